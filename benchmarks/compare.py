"""keras-seg against the PyTorch reference U-Net on this machine: throughput ratios as JSON.

Runs ``throughput.py`` (Keras) and ``torch_reference.py`` (PyTorch, eager NCHW, as the users' kit
runs) in separate processes, so neither shares threads or memory with the other, alternating them
for ``--rounds`` rounds (the order flips every round: K T, T K, K T, ...) so that a change of load
on a shared machine hits both alike. Prints one JSON line: the median of each figure per side,
``ratio`` = Keras median / PyTorch median, and every run's figures.

``--backends tensorflow,jax,torch`` runs ``throughput.py`` once per Keras backend in each round
(sides ``keras`` for tensorflow, ``keras_jax``, ``keras_torch``), each with its own ratio to
PyTorch (``ratio`` for ``keras``, ``ratio_keras_jax``, ...).

``--torch-channels-last`` adds a PyTorch run in NHWC memory layout to each round (an extra
figure; the ratio stays against the kit as users run it). ``--tuned`` adds the tuned user's
configurations (PyTorch channels-last, and channels-last under bfloat16 autocast) and keras-seg
under oneDNN's bfloat16 rewrite, and ``ratio_best_vs_best_torch``: the best keras-seg figure over
the best PyTorch one. ``--keras-args`` passes more options
to ``throughput.py`` (e.g. ``"--jit-compile 1"``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = ("train_img_per_s", "infer_img_per_s", "serve_img_per_s", "train_img_per_cpu_s",
           "peak_rss_mb")


def run_json(script: str, args: list[str]) -> dict:
    """Run ``script`` with ``args`` in a fresh Python process; return its last stdout line."""
    result = subprocess.run([sys.executable, os.path.join(HERE, script), *args],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def medians(runs: list[dict]) -> dict:
    """The median of each figure over ``runs``."""
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in FIGURES}


def compare(args: argparse.Namespace) -> dict:
    """Run the alternating rounds of ``args``; return the JSON record."""
    shape = ["--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
             "--filters", str(args.filters), "--steps", str(args.steps),
             "--warmup", str(args.warmup), "--infer-steps", str(args.infer_steps)]
    sides = {("keras" if name == "tensorflow" else f"keras_{name}"):
             ("throughput.py", shape + ["--backend", name] + shlex.split(args.keras_args))
             for name in args.backends.split(",")}
    sides["torch"] = ("torch_reference.py", shape)
    if args.torch_channels_last or args.tuned:
        sides["torch_channels_last"] = ("torch_reference.py",
                                        shape + ["--memory-format", "channels_last"])
    if args.tuned:
        sides["torch_channels_last_bf16"] = ("torch_reference.py", shape + [
            "--memory-format", "channels_last", "--bf16"])
        sides["keras_bf16"] = ("throughput.py", shape + [
            "--backend", "tensorflow", "--precision", "onednn_bfloat16"])
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for round_index in range(args.rounds):
        order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
        for name in order:
            script, script_args = sides[name]
            runs[name].append(run_json(script, script_args))
            # Each run's figures as they come, so that a long comparison shows its progress.
            print(json.dumps({"round": round_index + 1, "side": name,
                              **{k: runs[name][-1][k] for k in FIGURES}}),
                  file=sys.stderr, flush=True)
    summary = {name: medians(side_runs) for name, side_runs in runs.items()}
    ratios = {("ratio" if name == "keras" else f"ratio_{name}"):
              {k: round(summary[name][k] / summary["torch"][k], 3) for k in FIGURES[:4]}
              for name in sides if name.startswith("keras")}
    if args.tuned:  # the best of each side against the best PyTorch configuration
        best = {side: {k: max(summary[n][k] for n in sides if n.startswith(side))
                       for k in FIGURES[:3]} for side in ("keras", "torch")}
        ratios["ratio_best_vs_best_torch"] = {k: round(best["keras"][k] / best["torch"][k], 3)
                                              for k in FIGURES[:3]}
    return {
        **ratios,
        **summary,
        "settings": {"batch_size": args.batch_size, "image_size": args.image_size,
                     "filters": args.filters, "rounds": args.rounds, "steps": args.steps,
                     "warmup": args.warmup, "infer_steps": args.infer_steps,
                     "backends": args.backends, "keras_args": args.keras_args,
                     "cpu_count": os.cpu_count()},
        "runs": {name: [{k: r[k] for k in FIGURES} | {"load_avg_1m": r["settings"]["load_avg_1m"]}
                        for r in side_runs] for name, side_runs in runs.items()},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed training steps per run")
    parser.add_argument("--infer-steps", type=int, default=3, help="timed inference batches")
    parser.add_argument("--backends", default="tensorflow",
                        help="comma-separated Keras backends to time (tensorflow,jax,torch)")
    parser.add_argument("--keras-args", default="", help="more options for throughput.py")
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="also time PyTorch in channels_last (NHWC) memory layout")
    parser.add_argument("--tuned", action="store_true",
                        help="add the tuned configurations: PyTorch channels_last with and "
                             "without bfloat16 autocast, keras-seg with oneDNN bfloat16; "
                             "ratio_best_vs_best_torch compares the best of each side")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(compare(parse_args(argv))))


if __name__ == "__main__":
    main()
