"""`python train.py` end to end on the synthetic set: the run directory of INTERFACE.md."""

import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from keras_seg.data import synthetic
from keras_seg.export import load_saved_model

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = out / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": "unet", "filters": 4, "depth": 3}}))
    cmd = [sys.executable, "train.py", "--config", str(config), "--image-size", "64",
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
    # 24 synthetic volumes x 8 slices, 4 validation volumes.
    assert summary["data"] == {"train_volumes": 20, "val_volumes": 4,
                               "train_slices": 160, "val_slices": 32}


def test_config_is_resolved_and_records_the_split(run_dir):
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"] == {"name": "unet", "filters": 4, "depth": 3}
    assert config["data"]["image_size"] == 64 and config["training"]["epochs"] == 2
    assert len(config["data"]["val_volume_ids"]) == 4


def test_saved_model_serves_the_probabilities_of_best_keras(run_dir):
    images = synthetic.generate(num_volumes=1, slices_per_volume=3, image_size=64).images
    model = keras.models.load_model(run_dir / "best.keras")
    expected = np.asarray(model(images, training=False))
    loaded = load_saved_model(str(run_dir / "saved_model"))
    served = np.asarray(loaded.serve(images))
    assert served.shape == (3, 64, 64, 1)
    assert served.min() >= 0.0 and served.max() <= 1.0
    np.testing.assert_allclose(served, expected, atol=1e-5)
