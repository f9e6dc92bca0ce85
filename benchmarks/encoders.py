"""Every encoder of the table through the package: size, speed, round trips and ``train.py``.

Prints one JSON line per encoder (JSON Lines; each line is complete on its own), for the
README's encoder table. For each name of ``keras_seg.models.ENCODER_NAMES`` (or ``--encoders``),
in a fresh process each so one encoder's memory and graph never weigh on the next:

- ``train``: ``python train.py --data synthetic --model DECODER --set model.encoder=NAME
  --epochs 1 --image-size 32`` on 6 synthetic volumes of 4 slices in a temporary folder: exit
  status, seconds, best validation DSC after that one epoch (random weights: this shows that it
  trains end to end, not how well).
  Then the round trips of what that run wrote, in a fresh process: the probabilities of the
  run's ``best.keras`` (``keras.saving.load_model``) on a fixed 2x64x64x3 input against the
  same file's model rebuilt from its config with the same weights (``.keras``) and against its
  ``saved_model/`` (``keras_seg.export.load_saved_model``, ``serve``): the largest absolute
  difference of each (``--markdown`` calls one within :data:`TOLERANCE`, 1e-4, a pass:
  ``keras_seg.export.check_export``'s bound).
- ``throughput``: ``benchmarks/throughput.py --model DECODER --option encoder=NAME`` at the
  reference shape (256x256x3, batch 16, float32, random weights; ``--serve-steps 0``):
  trainable parameters, ``train_img_per_s``, ``infer_img_per_s``, forward GFLOP per image
  (regular and transposed convolutions; depthwise ones are left out), peak RSS. Few steps by
  default (the large encoders take minutes per step on 2 cores): indicative, not precise.

    .venv/bin/python benchmarks/encoders.py [--encoders resnet50 vgg16] [--decoder unet]
        [--skip throughput] [--skip train] [--steps 1 --warmup 1 --infer-steps 1] > encoders.jsonl
    .venv/bin/python benchmarks/encoders.py --markdown train.jsonl throughput.jsonl

``--markdown`` merges such files (records of one encoder joined) into the README's table.
``--sizes`` only builds each model with the builder's defaults at 256x256x3 (one process) and
prints its parameter counts: the table's parameters column, which ``train`` (run with the
synthetic config's 16 decoder filters) and ``throughput`` (``--filters 32``) do not give alike.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PARTS = ("train", "throughput")
TOLERANCE = 1e-4  # largest difference of probabilities a round trip may show


def throughput(encoder: str, args: argparse.Namespace) -> dict:
    """The JSON record of ``throughput.py`` for ``encoder``, run as its own process."""
    command = [sys.executable, str(ROOT / "benchmarks" / "throughput.py"),
               "--model", args.decoder, "--option", f"encoder={encoder}",
               "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
               "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--infer-steps", str(args.infer_steps), "--serve-steps", "0"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": last_line(done.stderr), "returncode": done.returncode}
    record = json.loads(done.stdout.strip().splitlines()[-1])
    keep = ("train_img_per_s", "infer_img_per_s", "peak_rss_mb",
            "train_img_per_cpu_s", "forward_gflop_per_img")
    result = {key: record[key] for key in keep}
    result["parameters"] = record["settings"]["parameters"]
    result["load_avg_1m"] = record["settings"]["load_avg_1m"]
    return result


ROUND_TRIP_CODE = """
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras, numpy as np, tensorflow as tf
from keras_seg.export import load_saved_model
run = sys.argv[1]
model = keras.saving.load_model(os.path.join(run, "best.keras"))
x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype("float32")
y = model.predict(x, verbose=0)
rebuilt = keras.Model.from_config(model.get_config())
rebuilt.set_weights(model.get_weights())
keras_diff = float(np.abs(rebuilt.predict(x, verbose=0) - y).max())
served = load_saved_model(os.path.join(run, "saved_model"))
saved_diff = float(np.abs(served.serve(tf.constant(x)).numpy() - y).max())
print(json.dumps({"parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
                  "keras_max_abs_diff": keras_diff, "saved_model_max_abs_diff": saved_diff}))
"""


def round_trips(run: pathlib.Path) -> dict:
    """``.keras`` and SavedModel round trips of the run's files, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", ROUND_TRIP_CODE, str(run)],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        return {"error": last_line(done.stderr), "returncode": done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def train(encoder: str, args: argparse.Namespace) -> dict:
    """One epoch of ``train.py`` on the synthetic set with ``encoder``; its outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        run = pathlib.Path(tmp) / "run"
        command = [sys.executable, str(ROOT / "train.py"), "--data", "synthetic",
                   "--model", args.decoder, "--set", f"model.encoder={encoder}",
                   "--epochs", "1", "--image-size", str(args.train_size), "--output", str(run),
                   # 6 volumes x 4 slices (2 validate): this checks that it trains, not how well
                   "--data-option", "num_volumes=6", "--data-option", "slices_per_volume=4",
                   "--set", "data.val_volumes=2", "--batch-size", "8",
                   "--no-choose-postprocessing"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp)
        seconds = time.perf_counter() - start
        result = {"returncode": done.returncode, "seconds": round(seconds, 1)}
        if done.returncode:
            result["error"] = last_line(done.stderr)
            return result
        summary = json.loads((run / "summary.json").read_text())
        result["best_val_dsc"] = summary.get("best_val_dsc")
        result["round_trips"] = round_trips(run)
        return result


def sizes(encoders: list[str], decoder: str) -> None:
    """Print ``{"encoder", "decoder", "size": {...}}`` per encoder: the default model's counts."""
    import keras
    import numpy as np

    from keras_seg.models import get_model

    for encoder in encoders:
        model = get_model(decoder, input_shape=(256, 256, 3), encoder=encoder)
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        total = int(sum(np.prod(w.shape) for w in model.weights))
        print(json.dumps({"encoder": encoder, "decoder": decoder,
                          "size": {"parameters": trainable, "all_parameters": total}}),
              flush=True)
        keras.backend.clear_session()


def last_line(text: str) -> str:
    """The last non-empty line of a child's stderr (its ``error:`` line or exception)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def markdown(paths: list[str]) -> str:
    """The README table of the JSON lines in ``paths`` (one row per encoder, parts merged)."""
    rows: dict[str, dict] = {}
    for path in paths:
        for line in pathlib.Path(path).read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                rows.setdefault(record["encoder"], {}).update(record)

    def number(value, digits):
        return "n/m" if value is None else f"{value:,.{digits}f}"

    speed_columns = any("throughput" in r for r in rows.values())
    header = ["encoder", "parameters (256x256x3)"]
    if speed_columns:
        header += ["forward GFLOP/img", "train img/s", "infer img/s", "peak RSS MB",
                   "load (1 min)"]
    header += ["`train.py`, 1 epoch (s)", "`.keras` / SavedModel round trip (max abs diff)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for encoder, record in rows.items():
        speed, trained = record.get("throughput", {}), record.get("train", {})
        trips = trained.get("round_trips", {})
        if "train" not in record:
            fit, trip = "not run", "not run"
        elif trained.get("returncode"):
            fit, trip = f"failed: {trained.get('error', '')}", "n/m"
        else:
            fit = f"yes ({trained['seconds']:.0f})"
            trip = " / ".join(
                "**no**" if trips.get(key) is None or trips[key] > TOLERANCE
                else f"yes ({trips[key]:.0e})" if trips[key] else "yes (0)"
                for key in ("keras_max_abs_diff", "saved_model_max_abs_diff"))
        cells = [f"`{encoder}`",
                 number(record.get("size", {}).get("parameters", speed.get("parameters")), 0)]
        if speed_columns:
            cells += [number(speed.get("forward_gflop_per_img"), 1),
                      number(speed.get("train_img_per_s"), 2),
                      number(speed.get("infer_img_per_s"), 2),
                      number(speed.get("peak_rss_mb"), 0),
                      number(speed.get("load_avg_1m"), 1)]
        lines.append("| " + " | ".join([*cells, fit, trip]) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", nargs="+", metavar="JSONL",
                        help="print the table of these result files instead of measuring")
    parser.add_argument("--sizes", action="store_true",
                        help="print the default models' parameter counts instead of measuring")
    parser.add_argument("--encoders", nargs="+", help="default: every ENCODER_NAMES entry")
    parser.add_argument("--decoder", default="unet",
                        choices=("unet", "unet_plus_plus", "fpn", "deeplabv3_plus"))
    parser.add_argument("--skip", action="append", default=[], choices=PARTS)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--infer-steps", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=32, help="train.py's --image-size")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.markdown:
        print(markdown(args.markdown))
        return
    if args.encoders is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from keras_seg.models import ENCODER_NAMES

        args.encoders = list(ENCODER_NAMES)
    if args.sizes:
        sizes(args.encoders, args.decoder)
        return
    parts = {"train": train, "throughput": throughput}
    for encoder in args.encoders:
        record = {"encoder": encoder, "decoder": args.decoder}
        for part, function in parts.items():
            if part not in args.skip:
                record[part] = function(encoder, args)
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
