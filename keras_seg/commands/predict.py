"""``python -m keras_seg predict``: predict a data set with trained models, write a report."""

from __future__ import annotations

import argparse

from keras_seg import backend
from keras_seg.commands.common import Parser, add_data_option, positive_int


def _image_size(text: str) -> int | str:
    if text == "native":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1 or 'native', got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None


def _probability(text: str) -> float:
    """A decision threshold strictly between 0 and 1 (NaN and infinities refused)."""
    value = _float(text)
    if not 0 < value < 1:  # also false for NaN
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text[:40]!r}")
    return value


def _fraction(text: str) -> float:
    value = _float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def add_inference_options(p: argparse.ArgumentParser) -> None:
    """How images are predicted: shared by ``predict`` and ``postprocess``."""
    p.add_argument("--backend", choices=backend.BACKENDS,
                   help="Keras backend to predict on (default: KERAS_BACKEND; the command "
                   "restarts under it)")
    p.add_argument("--threshold", type=_probability, default=0.5,
                   help="probability above which a pixel is foreground (default 0.5)")
    p.add_argument("--batch-size", type=positive_int, default=8,
                   help="images, or sliding-window tiles, per network call (default 8)")
    p.add_argument("--tta", choices=["none", "flip"], default="none",
                   help="flip: average the 4 flips (none, h, v, hv); 4x the time")
    p.add_argument("--window", choices=["auto", "whole", "sliding"], default="auto",
                   help="whole images padded to the stride, or Gaussian-weighted sliding "
                        "windows; auto (default): sliding for images larger than the tile")
    p.add_argument("--tile", type=positive_int,
                   help="sliding-window tile side (default: the training image size)")
    p.add_argument("--overlap", type=_fraction, default=0.5,
                   help="fraction of a tile its neighbour shares (default 0.5)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m keras_seg predict",
               description="Predict a data set with a trained model (or the mean of several) "
                           "and write a report.")
    p.add_argument("--model", required=True, nargs="+",
                   help="RUN/best.keras, RUN/saved_model or a run directory; several: an "
                        "ensemble averaging their probabilities")
    p.add_argument("--data", help="data set name (default: the training run's)")
    p.add_argument("--data-dir", help="data set folder (default: the training run's)")
    add_data_option(p)
    p.add_argument("--output", required=True, help="report directory")
    p.add_argument("--image-size", type=_image_size,
                   help="N, or 'native' (default: the training run's size)")
    add_inference_options(p)
    p.add_argument("--split", choices=["all", "train", "val", "unseen"], default="all",
                   help="predict only the run's training, validation or unseen volumes")
    p.add_argument("--postprocess", choices=["auto", "none"], default="auto",
                   help="auto (default): the post-processing the run chose on its validation "
                        "volumes (`python -m keras_seg postprocess`); none: off")
    p.add_argument("--spacing", type=_positive_float, nargs="+", metavar="MM",
                   help="pixel spacing for hd95/assd/nsd: one number, or SLICE ROW COL "
                        "(default: 1 pixel)")
    p.add_argument("--nsd-tolerance", type=_positive_float, default=1.0,
                   help="normalised surface Dice tolerance, in spacing units (default 1)")
    p.add_argument("--precision", choices=backend.PRECISIONS, default="auto",
                   help="auto (default): bfloat16 on a CPU that computes it natively "
                        "(TensorFlow's oneDNN rewrite, ~2x faster; ~4x with folding), else float32")
    p.add_argument("--no-fold-batchnorm", dest="fold_batchnorm", action="store_false",
                   help="run the model as saved (default: BatchNormalization folded into the "
                        "convolutions, the same probabilities within float32 round-off, faster)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    from keras_seg.backend import activate
    from keras_seg.errors import UserError
    from keras_seg.predict import predict

    activate(args.backend)
    if args.spacing is not None and len(args.spacing) not in (1, 3):
        raise UserError(f"--spacing takes one number or three (SLICE ROW COL), got "
                        f"{len(args.spacing)}")
    summary = predict(args.model, output=args.output, data=args.data, data_dir=args.data_dir,
                      image_size=args.image_size, options=dict(args.data_option),
                      threshold=args.threshold, batch_size=args.batch_size, split=args.split,
                      tta=args.tta, window=args.window, tile=args.tile, overlap=args.overlap,
                      postprocess=args.postprocess, spacing=args.spacing,
                      tolerance=args.nsd_tolerance, precision=args.precision,
                      fold_batchnorm=args.fold_batchnorm)
    line = (f"{summary['volumes']} volumes, {summary['slices']} slices -> {args.output} "
            f"({summary['precision']})")
    if summary["postprocess"]:
        line += f" (post-processing: {summary['postprocess']})"
    print(line)
    for name, report in summary["splits"].items():
        mean, median = report["mean"], report["median"]
        print(f"  {name:<6} {report['count']:>3} volumes: DSC mean {mean['dsc']:.4f}, median "
              f"{median['dsc']:.4f}; HD95 mean {_number(mean['hd95'])}")
    return 0


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
