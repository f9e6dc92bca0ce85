"""benchmarks/quality.py: fold splitting, scoring helpers and the JSON lines of a tiny run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from benchmark_scripts import load_benchmark

quality = load_benchmark("quality")


def test_pixel_error_counts_wrong_pixels_and_skips_ignored_ones():
    prob = np.array([[0.9, 0.2], [0.6, 0.4]])
    truth = np.array([[1, 1], [0, 0]])  # wrong: (0, 1) and (1, 0)
    assert quality.pixel_error(prob, truth) == 0.5
    weights = np.array([[1, 0], [1, 1]])  # the wrong (0, 1) is ignored: 1 of 3
    assert quality.pixel_error(prob, truth, weights) == pytest.approx(1 / 3)


def test_fold_volumes_are_disjoint_balanced_and_cover_every_volume():
    volumes = [f"v{i}" for i in range(7)]
    folds = quality.fold_volumes(volumes, 3, seed=42)
    assert sorted(len(f) for f in folds) == [2, 2, 3]
    assert sorted(v for f in folds for v in f) == volumes  # each volume in exactly one fold
    assert quality.fold_volumes(list(reversed(volumes)), 3, seed=42) == folds  # order-free


def test_epochs_to_reach_and_mean_curve():
    assert quality.epochs_to_reach([0.1, 0.5, 0.4, 0.7], 0.5) == 2
    assert quality.epochs_to_reach([0.1, 0.5], 0.8) is None
    assert quality.mean_curve([[0.2, 0.4, 0.9], [0.4, 0.6]]) == pytest.approx([0.3, 0.5])


def test_parse_set_nests_keys_and_reads_yaml_values():
    assert quality.parse_set(["training.lr=1e-3", "loss.batch=true", "data.augment.flip=false",
                              "model.name=unet"]) == {
        "training": {"lr": 0.001}, "loss": {"batch": True},
        "data": {"augment": {"flip": False}}, "model": {"name": "unet"}}


def _tiny_cross_validation(out, *flags) -> list[dict]:
    """Fold 0 of 3 on 6 two-slice synthetic volumes with a tiny U-Net; the saved lines."""
    argv = ["--config", "configs/synthetic.yaml", "--folds", "3", "--max-folds", "1",
            "--image-size", "32", "--output", str(out), *flags,
            "--set", "model.filters=4", "--set", "model.depth=2", "--set", "training.batch_size=4",
            "--set", "data.options={num_volumes: 6, slices_per_volume: 2}"]
    assert quality.main(argv) == 0
    return [json.loads(line) for line in (out / "quality.jsonl").read_text().splitlines()]


def test_cross_validation_on_synthetic_writes_one_line_per_fold(tmp_path, capsys):
    out = tmp_path / "q"
    saved = _tiny_cross_validation(out, "--epochs", "2", "--reach", "0", "2")
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{")]
    assert printed == saved and [r["fold"] for r in saved] == [0, "all"]
    row, total = saved
    run = out / "fold0"
    config = yaml.safe_load((run / "config.yaml").read_text())
    # 6 synthetic volumes in 3 folds: fold 0 holds out 2, the ones training validated on
    assert len(row["val_volumes"]) == 2
    assert sorted(config["data"]["val_volume_ids"]) == row["val_volumes"]
    curve = pd.read_csv(run / "history.csv")["val_dsc"].tolist()
    assert row["val_dsc_curve"] == pytest.approx(curve) and row["epochs"] == 2
    assert row["final_val_dsc"] == pytest.approx(curve[-1])
    assert row["best_val_dsc"] == pytest.approx(max(curve))
    # re-scoring best.keras on the held-out volumes reproduces the checkpoint's score
    assert row["best_model_dsc"] == pytest.approx(row["best_val_dsc"], abs=1e-6)
    assert total["best_val_dsc"] == row["best_val_dsc"] and total["folds_run"] == 1
    assert total["val_dsc_curve"] == pytest.approx(curve)
    assert total["epochs_to_reach"] == {"0.0": 1, "2.0": None}


def test_overall_means_over_folds_and_seeds_and_spread_over_seeds():
    def row(seed, fold, best, final):
        return {"seed": seed, "fold": fold, "best_val_dsc": best, "final_val_dsc": final,
                "best_model_dsc": best, "pixel_error": 0.1, "seconds": 10.0,
                "val_dsc_curve": [final / 2, final]}

    rows = [row(0, 0, 0.6, 0.5), row(0, 1, 0.8, 0.7), row(1, 0, 0.4, 0.3), row(1, 1, 0.6, 0.5)]
    line = quality.overall("x", rows, [0.5])
    assert line["folds_run"] == 2 and line["seeds"] == [0, 1] and line["seconds"] == 40.0
    assert line["best_val_dsc"] == pytest.approx(0.6)
    assert line["final_val_dsc"] == pytest.approx(0.5)
    # per-seed means: best 0.7 and 0.5 -> sample sd 0.1414; final 0.6 and 0.4 -> 0.1414
    assert line["best_val_dsc_sd"] == pytest.approx(0.2 / np.sqrt(2))
    assert line["final_val_dsc_sd"] == pytest.approx(0.2 / np.sqrt(2))
    assert line["val_dsc_curve"] == pytest.approx([0.25, 0.5])
    single = quality.overall("y", rows[:2], [0.5])
    assert single["seeds"] == [0] and "best_val_dsc_sd" not in single


def test_seeds_repeat_the_cross_validation_in_their_own_folders(tmp_path, capsys):
    out = tmp_path / "q"
    saved = _tiny_cross_validation(out, "--epochs", "1", "--seeds", "3", "5")
    assert [(r.get("seed"), r["fold"]) for r in saved] == [(3, 0), (5, 0), (None, "all")]
    for seed in (3, 5):
        config = yaml.safe_load((out / f"seed{seed}" / "fold0" / "config.yaml").read_text())
        assert config["training"]["seed"] == seed
    total = saved[-1]
    assert total["seeds"] == [3, 5] and total["folds_run"] == 1
    assert total["best_val_dsc_sd"] == pytest.approx(
        np.std([saved[0]["best_val_dsc"], saved[1]["best_val_dsc"]], ddof=1))
    assert quality.main(["--table", str(out)]) == 0
    table = capsys.readouterr().out.strip().splitlines()[-1]
    assert table.startswith("| synthetic | 1 | 2 | 1 | ") and " ± " in table
