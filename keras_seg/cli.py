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
    """The ``train`` options: one flag per config key of :mod:`keras_seg.schema`."""
    from keras_seg import schema

    p = Parser(prog="train.py", description="Train a segmentation model. Every config key has "
               "a flag; --set KEY=VALUE sets any key, model and loss options included.")
    p.add_argument("--config", help="YAML config file (flags override it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_items",
                   type=_key_value, help="set any config key, e.g. --set model.filters=8 "
                   "(VALUE read as YAML; repeatable; applied after the other flags)")
    for setting in schema.SETTINGS:
        help_text = f"{setting.help} [{setting.key}: {setting.kind.describe}]"
        if setting.key == "data.options":
            add_data_option(p, help_text)
        elif setting.kind.describe in ("true or false", "true, false or auto"):
            p.add_argument(setting.option, dest=_dest(setting), default=None,
                           action=argparse.BooleanOptionalAction, help=help_text)
        else:
            p.add_argument(setting.option, dest=_dest(setting), default=None, metavar="X",
                           help=help_text)
    from keras_seg.models import ENCODER_NAMES

    p.add_argument("--encoder", metavar="NAME",
                   help="the model's encoder, same as --set model.encoder=NAME (unet, "
                   "unet_plus_plus, fpn, deeplabv3_plus; --set model.encoder_weights=imagenet|"
                   f"PATH, --set model.encoder_freeze=true): {', '.join(ENCODER_NAMES)}")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in --output (otherwise refused)")
    p.add_argument("--verbose", type=int, choices=[0, 1, 2], default=None,
                   help="progress: 0 silent, 1 progress bar, 2 one line per epoch "
                   "(default: 1 on a terminal, else 2)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _dest(setting) -> str:
    return "key_" + setting.key.replace(".", "__")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text[:60]!r}")
    return key.strip(), value


def overrides_from_args(args: argparse.Namespace) -> dict:
    """The config entries that the given flags set (flags left out change nothing).

    Each value is checked where it enters: a bad one is a UserError naming the flag.
    """
    from keras_seg import schema

    out: dict = {}
    for setting in schema.SETTINGS:
        if setting.key == "data.options":
            if args.data_option:
                schema.set_item(out, setting.key, dict(args.data_option))
            continue
        value = getattr(args, _dest(setting))
        if value is None:
            continue
        if isinstance(value, str):
            value = schema.parse_text(value)
        try:
            value = setting.kind.check(setting.key, value)
        except UserError as e:
            raise UserError(f"{setting.option}: {e}") from None
        schema.set_item(out, setting.key, value)
    if args.encoder is not None:
        from keras_seg.models import ENCODER_NAMES

        if args.encoder not in ENCODER_NAMES:
            raise UserError(f"unknown encoder {args.encoder[:60]!r} (--encoder); valid: "
                            f"{', '.join(ENCODER_NAMES)}")
        schema.set_item(out, "model.encoder", args.encoder)
    for key, text in args.set_items:
        schema.check_key(key)
        value = schema.parse_text(text)
        if key in schema.BY_KEY:
            try:
                value = schema.BY_KEY[key].kind.check(key, value)
            except UserError as e:
                raise UserError(f"--set {e}") from None
        schema.set_item(out, key, value)
    return out


def _train(args: argparse.Namespace) -> int:
    from keras_seg import config as config_lib
    from keras_seg import training

    overrides = overrides_from_args(args)
    if (overrides.get("training") or {}).get("resume"):
        if args.config:
            raise UserError("--resume goes on with the run's own config.yaml; leave out --config")
        if not overrides.get("output"):
            raise UserError("--resume needs --output RUN, the run directory to go on with")
        config = training.resume_config(overrides["output"], overrides)
    else:
        config = config_lib.resolve(args.config, overrides)
    run = training.train
    if config["training"]["find_lr"] and not config["training"]["find_lr_then_train"]:
        run = training.find_learning_rate
    try:
        summary = run(config, overwrite=args.overwrite, verbose=args.verbose)
    except training.TrainingDiverged as e:
        print(f"error: training stopped: {e}", file=sys.stderr)
        return 1
    except training.TrainingInterrupted as e:
        print(f"error: {e}", file=sys.stderr)
        return 130
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
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted", file=sys.stderr)
        return 130


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
