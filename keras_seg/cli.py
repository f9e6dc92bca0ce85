"""Command line: ``train`` (the default), ``predict`` and ``export``.

Errors a user can cause end with one line ``error: ...`` on stderr and exit status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import yaml

from keras_seg.errors import UserError

COMMANDS = ("train", "predict", "export")
USAGE = """usage: python -m keras_seg [train|predict|export] [options]

  train    train a model (the default command; `python train.py` is the same)
  predict  predict a data set: per-volume DSC, overlays, GIFs, masks
  export   export a .keras model as a SavedModel (or ONNX)

`python -m keras_seg COMMAND --help` lists a command's options.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _data_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as YAML (``true``, ``3``, ``[a, b]``, text)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        return key, value


def _add_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-option", type=_data_option, action="append", default=[],
                   metavar="KEY=VALUE", help="a data reader option (repeatable)")


def _train_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="train.py", description="Train a segmentation model.")
    p.add_argument("--config", help="YAML config file (flags override it)")
    p.add_argument("--model", help="unet | attention_unet | res_unet | unet_plus_plus")
    p.add_argument("--loss", help="loss name, see `losses.NAMES`")
    p.add_argument("--data", help="synthetic | lgg | isbi | drive | folder")
    p.add_argument("--data-dir", help="data set folder")
    _add_data_option(p)
    p.add_argument("--image-size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", help="a keras.optimizers name: adam, adamw, sgd, rmsprop, ...")
    p.add_argument("--schedule", help="learning-rate schedule: constant | cosine | plateau")
    p.add_argument("--seed", type=int)
    p.add_argument("--val-volumes", type=float, help="count (>= 1) or fraction (< 1)")
    p.add_argument("--output", help="run directory (default runs/<time>-<model>-<loss>/)")
    p.add_argument("--find-lr", action="store_true", default=None)
    p.add_argument("--resume", action="store_true", default=None)
    p.add_argument("--mixed-precision", action="store_true", default=None)
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA compilation")
    p.add_argument("--distribute", choices=["none", "mirrored", "multi_worker"])
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _predict_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m keras_seg predict",
                description="Predict a data set with a trained model and write a report.")
    p.add_argument("--model", required=True,
                   help="RUN/best.keras, RUN/saved_model or a run directory")
    p.add_argument("--data", help="data set name (default: the training run's)")
    p.add_argument("--data-dir", help="data set folder (default: the training run's)")
    _add_data_option(p)
    p.add_argument("--output", required=True, help="report directory")
    p.add_argument("--image-size", type=_image_size,
                   help="N, or 'native' (default: the training run's size)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="probability above which a pixel is foreground (default 0.5)")
    p.add_argument("--batch-size", type=_positive_int, default=8)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _export_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m keras_seg export",
                description="Export a .keras model as a SavedModel (signature `serve`) or ONNX.")
    p.add_argument("--model", required=True, help="RUN/best.keras")
    p.add_argument("--output", required=True, help="output directory")
    p.add_argument("--format", choices=["saved_model", "onnx"], default="saved_model")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _image_size(text: str) -> int | str:
    if text == "native":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1 or 'native', got {text!r}") from None


def overrides_from_args(args: argparse.Namespace) -> dict:
    """The config entries that the given flags set (flags left out change nothing)."""
    mapping = {
        "model": ("model", "name"), "loss": ("loss", "name"), "data": ("data", "name"),
        "data_dir": ("data", "dir"), "image_size": ("data", "image_size"),
        "val_volumes": ("data", "val_volumes"), "epochs": ("training", "epochs"),
        "batch_size": ("training", "batch_size"), "lr": ("training", "lr"),
        "optimizer": ("training", "optimizer"), "schedule": ("training", "schedule"),
        "seed": ("training", "seed"), "find_lr": ("training", "find_lr"),
        "resume": ("training", "resume"), "mixed_precision": ("training", "mixed_precision"),
        "jit": ("training", "jit"), "distribute": ("training", "distribute"),
    }
    out: dict = {}
    for arg, (section, key) in mapping.items():
        value = getattr(args, arg)
        if value is not None:
            out.setdefault(section, {})[key] = value
    if args.data_option:
        out.setdefault("data", {})["options"] = dict(args.data_option)
    if args.output is not None:
        out["output"] = args.output
    return out


def _train(args: argparse.Namespace) -> int:
    from keras_seg import config as config_lib
    from keras_seg.training import TrainingDiverged, train

    config = config_lib.resolve(args.config, overrides_from_args(args))
    try:
        summary = train(config)
    except TrainingDiverged as e:
        print(f"error: training stopped: {e}", file=sys.stderr)
        return 1
    if summary.get("best_epoch") is not None:
        print(f"best val_dsc {summary['best_val_dsc']:.4f} at epoch {summary['best_epoch']}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from keras_seg.predict import predict

    summary = predict(args.model, args.data, args.data_dir, args.output, args.image_size,
                      args.threshold, args.batch_size, dict(args.data_option))
    line = f"{summary['volumes']} volumes, {summary['slices']} slices -> {args.output}"
    if summary["mean_dsc"] is not None:
        line += (f"; per-volume DSC mean {summary['mean_dsc']:.4f}, "
                 f"median {summary['median_dsc']:.4f}")
    print(line)
    return 0


def _export(args: argparse.Namespace) -> int:
    from keras_seg.export import export

    print(f"exported {export(args.model, args.output, args.format)}")
    return 0


_COMMANDS: dict[str, tuple[Callable[[], argparse.ArgumentParser],
                           Callable[[argparse.Namespace], int]]] = {
    "train": (_train_parser, _train),
    "predict": (_predict_parser, _predict),
    "export": (_export_parser, _export),
}


def run(fn: Callable[[], int], debug: bool) -> int:
    """Run ``fn``; a UserError becomes one line on stderr and exit status 2."""
    try:
        return fn()
    except UserError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """``[train|predict|export] [options]``; no command means ``train``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    make_parser, handler = _COMMANDS[command]
    args = make_parser().parse_args(argv)
    return run(lambda: handler(args), args.debug)
