"""Command line: ``train`` (the default), ``predict`` and ``export``.

Errors a user can cause end with one line ``error: ...`` on stderr and exit status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from keras_seg.commands.common import Parser, add_data_option
from keras_seg.errors import UserError

COMMANDS = ("train", "predict", "export", "postprocess")
USAGE = """usage: python -m keras_seg [train|predict|export] [options]

  train    train a model (the default command; `python train.py` is the same)
  predict  predict a data set: per-volume DSC, overlays, GIFs, masks
  export   export a .keras model as a SavedModel (or ONNX)
  postprocess  choose post-processing on a run's validation volumes

`python -m keras_seg COMMAND --help` lists a command's options.
"""


def _train_parser() -> argparse.ArgumentParser:
    p = Parser(prog="train.py", description="Train a segmentation model.")
    p.add_argument("--config", help="YAML config file (flags override it)")
    p.add_argument("--model", help="unet | attention_unet | res_unet | unet_plus_plus")
    p.add_argument("--loss", help="loss name, see `losses.NAMES`")
    p.add_argument("--data", help="synthetic | lgg | isbi | drive | folder")
    p.add_argument("--data-dir", help="data set folder")
    add_data_option(p)
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






def _command(name: str):
    """(parser builder, handler) of command ``name``."""
    if name == "train":
        return _train_parser, _train
    import importlib

    module = importlib.import_module(f"keras_seg.commands.{name}")
    return module.build_parser, module.run


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
    make_parser, handler = _command(command)
    args = make_parser().parse_args(argv)
    return run(lambda: handler(args), args.debug)
