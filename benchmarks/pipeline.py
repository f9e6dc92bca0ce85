"""Input-pipeline throughput against what a U-Net consumes in training; prints one JSON line.

Reads LGG from ../shared/data (synthetic data of the same size, with a note, when it is absent),
builds the full training pipeline (gather, augmentation with the defaults, shuffle, batch,
prefetch), and times whole epochs after a warm-up epoch. Then times a few training steps of
the reference U-Net (32 filters) at the same size and batch, and reports the ratio.

    .venv/bin/python benchmarks/pipeline.py [--image-size 256] [--batch-size 16] [--epochs 3]
                                            [--model-steps 3] [--augment '{"elastic": true}']
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from keras_seg import data as data_lib  # noqa: E402
from keras_seg import losses  # noqa: E402
from keras_seg.data import augment as augment_lib  # noqa: E402
from keras_seg.data.pipeline import make_dataset  # noqa: E402
from keras_seg.models import get_model  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
LGG_DIR = ROOT.parent / "shared" / "data" / "lgg_mri_kaggle_3m" / "kaggle_3m"


def pipeline_rate(data, batch_size: int, epochs: int, augment) -> tuple[float, float]:
    """(images per second over ``epochs`` epochs after a warm-up one, seconds to first batch)."""
    ds = make_dataset(data, batch_size, training=True, seed=0, augment=augment)
    start = time.perf_counter()
    first = None
    for _ in ds:
        first = first or time.perf_counter() - start
    count, start = 0, time.perf_counter()
    for _ in range(epochs):
        for x, *_ in ds:
            count += int(x.shape[0])
    return count / (time.perf_counter() - start), first


def unet_rate(size: int, channels: int, batch_size: int, steps: int) -> float:
    """Images per second of U-Net (32 filters) training steps, after one warm-up step."""
    model = get_model("unet", input_shape=(size, size, channels), filters=32)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=losses.get("dice"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size, size, size, channels)).astype(np.float32)
    y = (rng.random((batch_size, size, size, 1)) < 0.05).astype(np.float32)
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(LGG_DIR))
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--model-steps", type=int, default=3, help="0 skips the U-Net timing")
    p.add_argument("--augment", default="true", help="config data.augment, as YAML")
    args = p.parse_args()
    augment = augment_lib.settings(yaml.safe_load(args.augment))

    result: dict = {"benchmark": "pipeline", "image_size": args.image_size,
                    "batch_size": args.batch_size, "augment": augment}
    start = time.perf_counter()
    if pathlib.Path(args.data_dir).is_dir():
        data = data_lib.load("lgg", args.data_dir, args.image_size)
        result["data"] = "lgg"
    else:
        data = data_lib.load("synthetic", image_size=args.image_size)
        result["data"] = "synthetic"
        result["note"] = f"LGG not found at {args.data_dir}; synthetic data of the same size"
    result["load_s"] = round(time.perf_counter() - start, 2)
    result["slices"] = len(data)
    rate, first = pipeline_rate(data, args.batch_size, args.epochs, augment)
    result["images_per_s"] = round(rate, 1)
    result["first_batch_s"] = round(first, 2)
    if args.model_steps:
        consumed = unet_rate(args.image_size, data.images.shape[-1], args.batch_size,
                             args.model_steps)
        result["unet32_train_images_per_s"] = round(consumed, 2)
        result["ratio"] = round(rate / consumed, 1)
    result["cpu_count"] = os.cpu_count()
    result["machine"] = platform.machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
