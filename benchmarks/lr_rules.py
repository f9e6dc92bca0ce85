"""Which learning-rate suggestion rule trains well: each rule's rate against the config's.

    python benchmarks/lr_rules.py --config configs/synthetic.yaml --epochs 4 --folds 3 \\
        [--max-folds K] [--seeds 0 1] [--image-size 128] [--data-dir DIR] [--set KEY=VALUE ...]

For each fold of a volume-level k-fold split (as ``benchmarks/quality.py``) and each seed, the
range test (``keras_seg.training.find_learning_rate``) runs once on the fold's training volumes;
then the fold is trained for ``--epochs`` at the config's ``training.lr`` and at the rate each
rule of ``keras_seg.callbacks.lr_finder.RULES`` suggests, from the same initial weights. One
JSON line per fold, seed and rate, then one line with, per candidate, the mean over folds and
seeds of ``best_val_dsc`` and ``final_val_dsc`` and the rates it chose. A rule is fit to be the
default when its rate reaches at least the DSC of the config's rate (issue 21).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (benchmarks/quality.py: folds, run_fold, --set parsing)

from keras_seg.callbacks.lr_finder import RULES  # noqa: E402


def sweep(config: dict, val_ids: list[str], out: str) -> dict:
    """The range test on the fold's training volumes: ``{rule: suggested rate}``."""
    from keras_seg.training import find_learning_rate

    cfg = {**config, "output": out, "data": {**config["data"], "val_volume_ids": list(val_ids)}}
    result = find_learning_rate(cfg, verbose=0)
    with open(result["lr_finder"]) as f:
        return json.load(f)["suggestions"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--max-folds", type=int)
    p.add_argument("--fold-seed", type=int, default=42)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int)
    p.add_argument("--image-size", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--output")
    args = p.parse_args(argv)
    config, data, folds = quality.load_folds(args)
    out = args.output or tempfile.mkdtemp(prefix="keras_seg_lr_rules_")
    rows = []
    for seed in args.seeds:
        seeded = {**config, "training": {**config["training"], "seed": seed}}
        for i, val_ids in enumerate(folds[:args.max_folds or args.folds]):
            where = os.path.join(out, f"seed{seed}", f"fold{i}")
            rates = {"config": seeded["training"]["lr"],
                     **sweep(seeded, val_ids, os.path.join(where, "sweep"))}
            for name, lr in rates.items():
                cfg = {**seeded, "training": {**seeded["training"], "lr": float(lr)}}
                row = quality.run_fold(cfg, val_ids, os.path.join(where, name), data)
                line = {"candidate": name, "lr": float(lr), "seed": seed, "fold": i,
                        **{k: row[k] for k in ("best_val_dsc", "final_val_dsc", "seconds")}}
                rows.append(line)
                print(json.dumps(line), flush=True)
    summary = {"config": os.path.basename(args.config), "epochs": config["training"]["epochs"],
               "folds_run": len(folds[:args.max_folds or args.folds]), "seeds": args.seeds}
    for name in ("config", *RULES):
        mine = [r for r in rows if r["candidate"] == name]
        summary[name] = {key: round(float(np.mean([r[key] for r in mine])), 4)
                         for key in ("best_val_dsc", "final_val_dsc")}
        summary[name]["lrs"] = [float(f"{r['lr']:.3g}") for r in mine]
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
