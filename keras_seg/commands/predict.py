"""``python -m keras_seg predict``: predict a data set with a trained model, write a report."""

from __future__ import annotations

import argparse

from keras_seg.commands.common import Parser, add_data_option, positive_int


def _image_size(text: str) -> int | str:
    if text == "native":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1 or 'native', got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m keras_seg predict",
               description="Predict a data set with a trained model and write a report.")
    p.add_argument("--model", required=True,
                   help="RUN/best.keras, RUN/saved_model or a run directory")
    p.add_argument("--data", help="data set name (default: the training run's)")
    p.add_argument("--data-dir", help="data set folder (default: the training run's)")
    add_data_option(p)
    p.add_argument("--output", required=True, help="report directory")
    p.add_argument("--image-size", type=_image_size,
                   help="N, or 'native' (default: the training run's size)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="probability above which a pixel is foreground (default 0.5)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    from keras_seg.predict import predict

    summary = predict(args.model, args.data, args.data_dir, args.output, args.image_size,
                      args.threshold, args.batch_size, dict(args.data_option))
    line = f"{summary['volumes']} volumes, {summary['slices']} slices -> {args.output}"
    if summary["mean_dsc"] is not None:
        line += (f"; per-volume DSC mean {summary['mean_dsc']:.4f}, "
                 f"median {summary['median_dsc']:.4f}")
    print(line)
    return 0
