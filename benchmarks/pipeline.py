"""Input-pipeline throughput against what a U-Net consumes in training; prints one JSON line.

Reads LGG from ../shared/data (synthetic data of the same size, with a note, when it is absent),
builds the full training pipeline (gather, augmentation with the defaults, shuffle, batch,
prefetch), and times whole epochs after a warm-up epoch. Then times a few training steps of
the reference U-Net (32 filters) at the same size and batch, and reports the ratio.

    .venv/bin/python benchmarks/pipeline.py [--image-size 256] [--batch-size 16] [--epochs 3]
                                            [--model-steps 3] [--augment '{"elastic": true}']

``--cache-compare N`` instead compares ``data.cache`` memory vs disk on a generated folder of N
PNG images (``--image-size`` square, RGB): each mode runs in a fresh process that loads the set
and times ``--steps`` training batches of the full pipeline; the first disk run builds the cache
(timed apart), the second reuses it. Reported per mode: peak RSS, RSS growth over the process
after its imports, images/s, and the decoded set's size.

    .venv/bin/python benchmarks/pipeline.py --cache-compare 1200 --steps 40
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
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


def _rss_mb() -> float:
    """Current resident memory of this process in MB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def write_folder(root: pathlib.Path, count: int, size: int) -> None:
    """``count`` smooth RGB PNG images with disc masks, 8 per volume sub-folder."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        volume = f"v{i // 8:04d}"
        (cy, cx), r = rng.uniform(0.3, 0.7, 2) * size, rng.uniform(0.05, 0.2) * size
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        image = np.stack([(yy + i) % 256, (xx * 2 + i) % 256, (yy + xx) % 256], -1)
        image[inside] = 255 - image[inside]
        for sub, array in (("images", image.astype(np.uint8)),
                           ("masks", inside.astype(np.uint8) * 255)):
            folder = root / sub / volume
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(folder / f"{i:05d}.png", compress_level=1)


def cache_child(mode: str, data_dir: str, cache_dir: str, size: int, batch: int,
                steps: int) -> dict:
    """One mode in this (fresh) process: load, then time ``steps`` training batches."""
    base = _rss_mb()
    start = time.perf_counter()
    data = data_lib.load("folder", data_dir, size, cache="memory" if mode == "memory"
                         else "disk", cache_dir=cache_dir, verbose=0)
    load_s = time.perf_counter() - start
    ds = make_dataset(data, batch, training=True, seed=0, augment=True).repeat()
    it = iter(ds)
    next(it)  # warm-up: graph tracing
    count, start = 0, time.perf_counter()
    for _ in range(steps):
        count += int(next(it)[0].shape[0])
    rate = count / (time.perf_counter() - start)
    return {"mode": mode, "load_s": round(load_s, 1), "images_per_s": round(rate, 1),
            "peak_rss_mb": round(_peak_rss_mb()), "rss_after_imports_mb": round(base),
            "rss_growth_mb": round(_peak_rss_mb() - base)}


def cache_compare(count: int, size: int, batch: int, steps: int, model_steps: int) -> dict:
    """Memory vs disk cache on a generated folder; each run in its own process."""
    with tempfile.TemporaryDirectory(prefix="keras_seg_bench_") as tmp:
        root = pathlib.Path(tmp)
        write_folder(root / "data", count, size)
        runs = {}
        for label, mode in (("memory", "memory"), ("disk_build", "disk"), ("disk", "disk")):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--data-dir", str(root / "data"),
                 "--cache-dir", str(root / "cache"), "--image-size", str(size),
                 "--batch-size", str(batch), "--steps", str(steps)],
                check=True, capture_output=True, text=True).stdout
            runs[label] = json.loads(out.strip().splitlines()[-1])
    dataset_mb = count * size * size * 3 * 4 / 2 ** 20
    result = {"benchmark": "pipeline_cache", "images": count, "image_size": size,
              "batch_size": batch, "timed_batches": steps,
              "decoded_set_mb": round(dataset_mb), **runs,
              "set_over_disk_rss_growth": round(dataset_mb / max(runs["disk"]["rss_growth_mb"],
                                                                 1), 1)}
    if model_steps:
        consumed = unet_rate(size, 3, batch, model_steps)
        result["unet32_train_images_per_s"] = round(consumed, 2)
        result["disk_ratio"] = round(runs["disk"]["images_per_s"] / consumed, 1)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(LGG_DIR))
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--model-steps", type=int, default=3, help="0 skips the U-Net timing")
    p.add_argument("--augment", default="true", help="config data.augment, as YAML")
    p.add_argument("--cache-compare", type=int, default=0, metavar="N",
                   help="compare data.cache memory vs disk on N generated images")
    p.add_argument("--steps", type=int, default=40, help="timed batches per cache mode")
    p.add_argument("--child", choices=("memory", "disk"), help=argparse.SUPPRESS)
    p.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(cache_child(args.child, args.data_dir, args.cache_dir,
                                     args.image_size, args.batch_size, args.steps)))
        return
    if args.cache_compare:
        result = cache_compare(args.cache_compare, args.image_size, args.batch_size,
                               args.steps, args.model_steps)
        result.update(cpu_count=os.cpu_count(), machine=platform.machine(),
                      load_average=round(os.getloadavg()[0], 1))
        print(json.dumps(result))
        return
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
