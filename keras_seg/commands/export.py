"""``python -m keras_seg export``: a ``.keras`` model as a SavedModel (or ONNX)."""

from __future__ import annotations

import argparse

from keras_seg.commands.common import Parser


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m keras_seg export",
               description="Export a .keras model as a SavedModel (signature `serve`) or ONNX.")
    p.add_argument("--model", required=True, help="RUN/best.keras")
    p.add_argument("--output", required=True, help="output directory")
    p.add_argument("--format", choices=["saved_model", "onnx"], default="saved_model")
    p.add_argument("--backend", choices=["tensorflow", "jax", "torch"],
                   help="Keras backend to run on (default: KERAS_BACKEND); where it cannot "
                        "write the format itself, a TensorFlow child process does")
    p.add_argument("--no-fold-batchnorm", dest="fold_batchnorm", action="store_false",
                   help="keep BatchNormalization as separate layers in the exported graph "
                        "(default: folded into the convolutions, same outputs, faster)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    from keras_seg.backend import current
    from keras_seg.export import export

    path = export(args.model, args.output, args.format, fold=args.fold_batchnorm)
    print(f"exported {path} (Keras backend: {current()})")
    return 0
