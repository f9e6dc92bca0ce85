"""Segmentation quality by volume-level (patient-level) k-fold cross-validation.

    python benchmarks/quality.py --config configs/lgg_reference.yaml --data-dir DIR/kaggle_3m \\
        [--folds 4] [--epochs 10] [--image-size 128] [--max-folds K] [--seeds 0 1 2] \\
        [--output DIR] [--set loss.name=bce_dice --set training.lr=1e-3 ...]

The volumes (LGG patients, ISBI section groups, ...) are shuffled once with ``--fold-seed`` and
cut into ``--folds`` folds (``keras_seg.data.kfold_volumes``). Each fold trains
``keras_seg.training.train`` on the other folds with ``data.val_volume_ids`` = the fold, in
``OUTPUT/fold<i>/`` (a temporary folder without ``--output``), then scores the fold's volumes
with that run's ``best.keras``. With ``--seeds`` the whole cross-validation is repeated for
each training seed (``training.seed``: weight initialisation, shuffling, augmentation), in
``OUTPUT/seed<s>/fold<i>/``: at a small budget the seed moves a fold's DSC by more than most
differences between recipes, so compare recipes over several seeds. One JSON line is printed per
fold (and seed), then one for all of them:

- ``best_val_dsc`` / ``best_epoch``: the best epoch's mean per-volume DSC (the reference's
  figure: chosen on the scored volumes themselves, hence optimistic);
- ``final_val_dsc``: the mean per-volume DSC after the last epoch;
- ``pixel_error``: the fraction of wrongly labelled pixels of ``best.keras`` at threshold 0.5
  (the ISBI 2012 figure; ignored pixels excluded);
- ``val_dsc_curve``: ``val_dsc`` per epoch from the run's ``history.csv`` (the overall line has
  the mean curve over folds) and ``epochs_to_reach``: the first epoch whose mean curve reaches
  each ``--reach`` level (None if never);
- ``epochs``, ``seconds`` (training wall time);
- ``model``: the fold's ``best.keras`` (the overall line lists them all under ``models``);
- on the overall line, ``seeds`` and, with more than one seed, ``best_val_dsc_sd`` /
  ``final_val_dsc_sd``: the standard deviation over seeds of each seed's all-folds mean.

All lines also go to ``OUTPUT/quality.jsonl``. The fold models stay in their run directories, so
they can be ensembled: ``--models OUTPUT`` prints each seed's fold models on one line, ready for
``python -m keras_seg predict --model $(python benchmarks/quality.py --models OUTPUT) ...``
(a single-seed run; with several seeds, pick a line).

Without ``--config``, ``--plot PNG RUN_DIR...`` draws the mean ``val_dsc`` curves of finished
runs (one line per run, labelled by ``--label``) and ``--table RUN_DIR...`` prints their
all-folds figures as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import yaml

from keras_seg import config as config_lib
from keras_seg import data as data_lib
from keras_seg.errors import UserError
from keras_seg.metrics import mean_per_volume_dsc

RESULTS = "quality.jsonl"


def parse_set(items: list[str]) -> dict:
    """``["training.lr=1e-3", "loss.batch=true"]`` as a nested override dict (YAML values)."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UserError(f"--set expects section.key=value, got {item!r}")
        *sections, name = key.split(".")
        node = out
        for section in sections:
            node = node.setdefault(section, {})
        parsed = yaml.safe_load(value)
        node[name] = float(parsed) if isinstance(parsed, str) and _is_float(parsed) else parsed
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def fold_volumes(volumes: list[str], folds: int, seed: int) -> list[list[str]]:
    """The validation volumes of each of the ``folds`` folds (disjoint, covering all)."""
    return [data_lib.kfold_volumes(volumes, folds, i, seed) for i in range(folds)]


def pixel_error(prob: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None,
                threshold: float = 0.5) -> float:
    """Fraction of pixels whose thresholded prediction differs from the truth.

    Pixels of weight 0 are left out.
    """
    wrong = (np.asarray(prob) > threshold) != (np.asarray(truth) > 0.5)
    if weights is None:
        return float(wrong.mean())
    keep = np.asarray(weights) > 0
    return float(wrong[keep].mean())


def epochs_to_reach(curve: list[float], level: float) -> int | None:
    """The first (1-based) epoch whose value is >= ``level``; None if none is."""
    for epoch, value in enumerate(curve, start=1):
        if value >= level:
            return epoch
    return None


def mean_curve(curves: list[list[float]]) -> list[float]:
    """Per-epoch mean over runs, as long as the shortest run."""
    length = min(len(c) for c in curves)
    return [float(np.mean([c[i] for c in curves])) for i in range(length)]


def score_best(run_dir: str, val: data_lib.SliceSet, batch_size: int) -> dict:
    """Mean per-volume DSC and pixel error of ``run_dir/best.keras`` on ``val``.

    Predicts as ``keras_seg predict`` does: whole images, padded to the stride, final output.
    """
    from keras_seg.predict import load_predictor, predict_images

    predictor = load_predictor(os.path.join(run_dir, "best.keras"))
    prob = predict_images(predictor, val.images, batch_size)
    return {"best_model_dsc": mean_per_volume_dsc(prob, val.masks, val.volume_ids,
                                                  weights=val.weights),
            "pixel_error": pixel_error(prob, val.masks, val.weights)}


def run_fold(config: dict, val_ids: list[str], run_dir: str, data: data_lib.SliceSet) -> dict:
    """Train one fold in ``run_dir`` and score it."""
    import pandas as pd

    from keras_seg.training import train

    config = {**config, "output": run_dir,
              "data": {**config["data"], "val_volume_ids": list(val_ids)}}
    start = time.perf_counter()
    summary = train(config)
    seconds = time.perf_counter() - start
    history = pd.read_csv(os.path.join(run_dir, "history.csv"))
    curve = [float(v) for v in history["val_dsc"]]
    scores = score_best(run_dir, data.select_volumes(val_ids), config["training"]["batch_size"])
    return {"val_volumes": list(val_ids), "best_val_dsc": summary["best_val_dsc"],
            "best_epoch": summary["best_epoch"], "final_val_dsc": curve[-1], **scores,
            "epochs": len(curve), "seconds": round(seconds, 1), "val_dsc_curve": curve,
            "model": os.path.abspath(os.path.join(run_dir, "best.keras"))}


def overall(label: str, rows: list[dict], reach: list[float]) -> dict:
    """The all-folds line: means of the fold figures and of the curves over folds and seeds.

    Rows without a ``seed`` count as one seed. With several seeds, ``*_sd`` is the sample
    standard deviation over seeds of each seed's mean over its folds.
    """
    curve = mean_curve([r["val_dsc_curve"] for r in rows])
    keys = ("best_val_dsc", "final_val_dsc", "best_model_dsc", "pixel_error")
    seeds = list(dict.fromkeys(r.get("seed") for r in rows))
    line = {"label": label, "fold": "all",
            "folds_run": len({r["fold"] for r in rows}),
            **{k: float(np.mean([r[k] for r in rows])) for k in keys},
            "epochs": len(curve), "seconds": round(sum(r["seconds"] for r in rows), 1),
            "val_dsc_curve": curve,
            "epochs_to_reach": {str(x): epochs_to_reach(curve, x) for x in reach},
            "seeds": seeds, "models": [r["model"] for r in rows if "model" in r]}
    if len(seeds) > 1:
        for key in ("best_val_dsc", "final_val_dsc"):
            per_seed = [np.mean([r[key] for r in rows if r.get("seed") == s]) for s in seeds]
            line[f"{key}_sd"] = float(np.std(per_seed, ddof=1))
    return line


def load_folds(args: argparse.Namespace) -> tuple[dict, data_lib.SliceSet, list[list[str]]]:
    """The config of ``args`` (``--config`` with ``--set``, ``--data-dir``, ``--image-size``,
    ``--epochs``), its data set and the volume folds (``--folds``, ``--fold-seed``)."""
    overrides = parse_set(args.set or [])
    flags = {"data": {"dir": args.data_dir, "image_size": args.image_size},
             "training": {"epochs": args.epochs}}
    for section, values in flags.items():
        for key, value in values.items():
            if value is not None:
                overrides.setdefault(section, {})[key] = value
    config = config_lib.resolve(args.config, overrides)
    dcfg = config["data"]
    data = data_lib.load(dcfg["name"], dcfg["dir"], dcfg["image_size"],
                         seed=config["training"]["seed"], **dcfg["options"])
    return config, data, fold_volumes(data.volumes, args.folds, args.fold_seed)


def evaluate(args: argparse.Namespace) -> list[dict]:
    """Cross-validate ``args.config``; print and return the JSON lines."""
    config, data, folds = load_folds(args)
    out = args.output or tempfile.mkdtemp(prefix="keras_seg_quality_")
    os.makedirs(out, exist_ok=True)
    label = args.label or os.path.splitext(os.path.basename(args.config))[0]
    seeds = args.seeds or [config["training"]["seed"]]
    lines = []
    with open(os.path.join(out, RESULTS), "w") as log:
        def emit(line: dict) -> None:
            lines.append(line)
            text = json.dumps(line)
            print(text, flush=True)
            log.write(text + "\n")
            log.flush()

        for seed in seeds:
            seeded = {**config, "training": {**config["training"], "seed": seed}}
            where = out if len(seeds) == 1 else os.path.join(out, f"seed{seed}")
            for i, val_ids in enumerate(folds[:args.max_folds or args.folds]):
                row = run_fold(seeded, val_ids, os.path.join(where, f"fold{i}"), data)
                emit({"label": label, "seed": seed, "fold": i, **row})
        emit(overall(label, list(lines), args.reach))
    return lines


def read_overall(run_dir: str) -> dict:
    """The all-folds line of a finished run's ``quality.jsonl``."""
    with open(os.path.join(run_dir, RESULTS)) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def fold_models(run_dir: str) -> dict:
    """``{seed: [best.keras of each fold, in fold order]}`` of a finished run (seed None when
    the run had one seed and no ``--seeds``)."""
    with open(os.path.join(run_dir, RESULTS)) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    out: dict = {}
    for line in lines:
        if line["fold"] != "all" and "model" in line:
            out.setdefault(line.get("seed"), []).append(line["model"])
    return out


def _with_sd(line: dict, key: str) -> str:
    """``line[key]``, with `` ± sd`` when the line has a spread over seeds."""
    sd = line.get(f"{key}_sd")
    return f"{line[key]:.3f}" + ("" if sd is None else f" ± {sd:.3f}")


def table(run_dirs: list[str]) -> str:
    """The all-folds figures of finished runs as a Markdown table, one row per run."""
    rows = ["| run | folds | seeds | epochs | best DSC | final DSC | pixel error | minutes |",
            "|---|---|---|---|---|---|---|---|"]
    for run_dir in run_dirs:
        r = read_overall(run_dir)
        rows.append(f"| {r['label']} | {r['folds_run']} | {len(r.get('seeds', [None]))} | "
                    f"{r['epochs']} | {_with_sd(r, 'best_val_dsc')} | "
                    f"{_with_sd(r, 'final_val_dsc')} | "
                    f"{r['pixel_error']:.4f} | {r['seconds'] / 60:.1f} |")
    return "\n".join(rows)


def plot(png: str, run_dirs: list[str], title: str | None = None) -> None:
    """Mean ``val_dsc`` curve of each finished run (its ``quality.jsonl``), one line each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run_dir in run_dirs:
        last = read_overall(run_dir)
        curve = last["val_dsc_curve"]
        runs = f"{last['folds_run']} fold{'s' * (last['folds_run'] > 1)}"
        seeds = len(last.get("seeds", [None]))
        if seeds > 1:
            runs += f" x {seeds} seeds"
        ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3,
                label=f"{last['label']} ({runs})")
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("mean per-volume DSC (validation)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="config file (YAML) to cross-validate")
    p.add_argument("--folds", type=int, default=4, help="number of folds (default 4)")
    p.add_argument("--max-folds", type=int, help="run only the first K folds")
    p.add_argument("--fold-seed", type=int, default=42, help="seed of the fold split")
    p.add_argument("--seeds", type=int, nargs="+",
                   help="training seeds to repeat the cross-validation with (default: the "
                        "config's training.seed)")
    p.add_argument("--epochs", type=int, help="training.epochs")
    p.add_argument("--image-size", type=int, default=128,
                   help="data.image_size (default 128: CPU-sized; 0 keeps the config's)")
    p.add_argument("--data-dir", help="data.dir")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="config override, e.g. loss.name=bce_dice (repeatable)")
    p.add_argument("--output", help="folder for the fold runs and quality.jsonl")
    p.add_argument("--label", help="name of this run in the output (default: config stem)")
    p.add_argument("--reach", type=float, nargs="*", default=[0.5, 0.6, 0.7],
                   help="DSC levels for epochs_to_reach (default 0.5 0.6 0.7)")
    p.add_argument("--models", metavar="RUN_DIR",
                   help="print the fold models (best.keras) of a finished run, one line per "
                        "seed, instead")
    p.add_argument("--plot", metavar="PNG", help="plot the curves of RUN_DIRs instead")
    p.add_argument("--title", help="plot title")
    p.add_argument("--table", action="store_true",
                   help="print the figures of RUN_DIRs as a Markdown table instead")
    p.add_argument("run_dirs", nargs="*", help="with --plot / --table: finished --output folders")
    args = p.parse_args(argv)
    if args.image_size == 0:
        args.image_size = None
    if not (args.plot or args.table or args.config or args.models):
        p.error("--config is required (or --plot PNG RUN_DIR... or --table RUN_DIR...)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.models:
            for paths in fold_models(args.models).values():
                print(" ".join(paths))
        elif args.plot or args.table:
            if args.plot:
                plot(args.plot, args.run_dirs, args.title)
            if args.table:
                print(table(args.run_dirs))
        else:
            evaluate(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
