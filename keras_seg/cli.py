"""Command line: ``train`` (the default), ``predict`` and ``export``."""

from __future__ import annotations

import argparse
import sys

from keras_seg.errors import UserError

COMMANDS = ("train", "predict", "export")


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train.py", description="Train a segmentation model.")
    p.add_argument("--config", help="YAML config file (flags override it)")
    p.add_argument("--model", help="unet | attention_unet | res_unet | unet_plus_plus")
    p.add_argument("--loss", help="loss name, see `losses.NAMES`")
    p.add_argument("--data", help="synthetic | lgg | isbi | drive | folder")
    p.add_argument("--data-dir", help="data set folder")
    p.add_argument("--image-size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--val-volumes", type=float, help="count (>= 1) or fraction (< 1)")
    p.add_argument("--output", help="run directory (default runs/<time>-<model>-<loss>/)")
    p.add_argument("--find-lr", action="store_true", default=None)
    p.add_argument("--resume", action="store_true", default=None)
    p.add_argument("--mixed-precision", action="store_true", default=None)
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None)
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
        "seed": ("training", "seed"), "find_lr": ("training", "find_lr"),
        "resume": ("training", "resume"), "mixed_precision": ("training", "mixed_precision"),
        "jit": ("training", "jit"), "distribute": ("training", "distribute"),
    }
    out: dict = {}
    for arg, (section, key) in mapping.items():
        value = getattr(args, arg)
        if value is None:
            continue
        if arg == "val_volumes" and value >= 1:
            value = int(value)
        out.setdefault(section, {})[key] = value
    if args.output is not None:
        out["output"] = args.output
    return out


def train_main(argv: list[str]) -> int:
    args = _train_parser().parse_args(argv)
    return _run(lambda: _train(args), args.debug)


def _train(args: argparse.Namespace) -> None:
    from keras_seg import config as config_lib
    from keras_seg.training import train

    config = config_lib.resolve(args.config, overrides_from_args(args))
    summary = train(config)
    print(f"best val_dsc {summary['best_val_dsc']:.4f} at epoch {summary['best_epoch']}")


def _run(fn, debug: bool) -> int:
    """Run ``fn``; a UserError becomes one line on stderr and exit status 2."""
    try:
        fn()
    except UserError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    if command == "train":
        return train_main(argv)
    raise SystemExit(f"`{command}` is not implemented yet")
