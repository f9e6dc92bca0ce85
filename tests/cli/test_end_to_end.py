"""The whole workflow from the command line: `python train.py`, then predict and export its run.

Training runs in a fresh interpreter (as a user runs it); predict and export call the same CLI
entry point in-process on the run it wrote.
"""

import csv
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from keras_seg import cli
from keras_seg.data import synthetic
from keras_seg.export import load_saved_model

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = out / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": "unet", "filters": 4, "depth": 3}}))
    cmd = [sys.executable, "train.py", "--config", str(config), "--image-size", "32",
           "--data-option", "num_volumes=12", "--data-option", "slices_per_volume=6",
           "--epochs", "2", "--batch-size", "32", "--output", str(out / "run")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "run"


def test_run_directory_files(run_dir):
    for name in ("config.yaml", "best.keras", "history.csv", "summary.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "saved_model" / "saved_model.pb").is_file()
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))


def test_history_and_summary_agree(run_dir):
    history = pd.read_csv(run_dir / "history.csv")
    assert {"epoch", "loss", "val_loss", "val_dsc", "lr"} <= set(history.columns)
    assert history["epoch"].tolist() == [1, 2]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_run"] == 2
    assert summary["best_val_dsc"] == pytest.approx(history["val_dsc"].max())
    assert summary["best_epoch"] == int(history.loc[history["val_dsc"].idxmax(), "epoch"])
    # 12 synthetic volumes x 6 slices, 4 validation volumes.
    assert summary["data"] == {"train_volumes": 8, "val_volumes": 4,
                               "train_slices": 48, "val_slices": 24}


def test_config_is_resolved_and_records_the_split(run_dir):
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"] == {"name": "unet", "filters": 4, "depth": 3}
    assert config["data"]["image_size"] == 32 and config["training"]["epochs"] == 2
    assert config["data"]["options"] == {"num_volumes": 12, "slices_per_volume": 6}
    assert len(config["data"]["val_volume_ids"]) == 4


def test_saved_model_serves_the_probabilities_of_best_keras(run_dir):
    images = synthetic.generate(num_volumes=1, slices_per_volume=3, image_size=32).images
    model = keras.models.load_model(run_dir / "best.keras")
    expected = np.asarray(model(images, training=False))
    loaded = load_saved_model(str(run_dir / "saved_model"))
    served = np.asarray(loaded.serve(images))
    assert served.shape == (3, 32, 32, 1)
    assert served.min() >= 0.0 and served.max() <= 1.0
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_predict_takes_the_data_and_size_from_the_run(run_dir, tmp_path):
    status = cli.main(["predict", "--model", str(run_dir / "best.keras"), "--output",
                       str(tmp_path), "--data-option", "num_volumes=2",
                       "--data-option", "slices_per_volume=3", "--postprocess", "none"])
    assert status == 0
    data = synthetic.generate(num_volumes=2, slices_per_volume=3, image_size=32)
    model = keras.models.load_model(run_dir / "best.keras")
    pred = np.asarray(model(data.images, training=False))[..., 0] > 0.5
    truth = data.masks[..., 0] > 0
    with open(tmp_path / "per_volume_dsc.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["volume"] for r in rows] == data.volumes
    for row in rows:
        v = data.volume_ids == row["volume"]
        total = pred[v].sum() + truth[v].sum()
        expected = 1.0 if total == 0 else 2 * (pred[v] & truth[v]).sum() / total
        assert float(row["dsc"]) == pytest.approx(expected, abs=1e-12)
    with Image.open(tmp_path / "overlays" / "synthetic_000_1.png") as png:
        assert png.size == (32, 32)  # the run's training size


def test_export_command_writes_a_checked_saved_model(run_dir, tmp_path):
    assert cli.main(["export", "--model", str(run_dir / "best.keras"), "--output",
                     str(tmp_path / "sm")]) == 0
    model = keras.models.load_model(run_dir / "best.keras")
    loaded = load_saved_model(str(tmp_path / "sm"))
    assert int(loaded.stride[0]) == 8
    for batch in (1, 4):
        x = np.random.default_rng(batch).standard_normal((batch, 24, 40, 3)).astype(np.float32)
        np.testing.assert_allclose(np.asarray(loaded.serve(x)),
                                   np.asarray(model(x, training=False)), atol=1e-5)


def test_predict_folds_batchnorm_by_default_and_gives_the_masks_of_the_model_as_saved(
        run_dir, tmp_path):
    common = ["--model", str(run_dir), "--data-option", "num_volumes=2",
              "--data-option", "slices_per_volume=3", "--postprocess", "none"]
    assert cli.main(["predict", *common, "--output", str(tmp_path / "folded")]) == 0
    assert cli.main(["predict", *common, "--no-fold-batchnorm",
                     "--output", str(tmp_path / "as_saved")]) == 0
    for name in ("synthetic_000_1", "synthetic_001_3"):
        folded = np.asarray(Image.open(tmp_path / "folded" / "masks" / f"{name}.png"))
        as_saved = np.asarray(Image.open(tmp_path / "as_saved" / "masks" / f"{name}.png"))
        assert np.mean(folded == as_saved) > 0.999  # a pixel at 0.5 +- 1e-6 may flip
    rows = [pd.read_csv(tmp_path / out / "per_volume_dsc.csv") for out in ("folded", "as_saved")]
    np.testing.assert_allclose(rows[0]["dsc"], rows[1]["dsc"], atol=0.01)
    from keras_seg.models.fold import FoldedBatchNorm
    from keras_seg.predict import load_predictor

    def folded_layers(fold):
        model = load_predictor(str(run_dir), fold).handle
        return sum(isinstance(layer, FoldedBatchNorm) for layer in model.layers)

    norms = sum(isinstance(layer, keras.layers.BatchNormalization)
                for layer in keras.models.load_model(run_dir / "best.keras").layers)
    assert norms > 0 and folded_layers(True) == norms and folded_layers(False) == 0


def test_export_folds_batchnorm_unless_told_not_to(run_dir, tmp_path):
    model = keras.models.load_model(run_dir / "best.keras")
    norms = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert norms > 0
    for flag, out in (([], "folded"), (["--no-fold-batchnorm"], "as_saved")):
        assert cli.main(["export", "--model", str(run_dir / "best.keras"), "--output",
                         str(tmp_path / out), *flag]) == 0
    folded = load_saved_model(str(tmp_path / "folded"))
    as_saved = load_saved_model(str(tmp_path / "as_saved"))
    # each folded BatchNormalization takes its 4 variables (gamma, beta, mean, variance) and
    # gives its convolution a bias: 3 fewer variables each
    assert len(as_saved.variables) - len(folded.variables) == 3 * norms
    x = np.random.default_rng(7).standard_normal((2, 32, 32, 3)).astype(np.float32)
    expected = np.asarray(model(x, training=False))
    for loaded in (folded, as_saved):
        np.testing.assert_allclose(np.asarray(loaded.serve(x)), expected, atol=1e-5)
