"""`train.py`, `predict` and `export` from the command line on the JAX and torch backends.

Each backend trains a tiny run in a fresh interpreter, predicts with it and exports it again
with ``--backend``; this TensorFlow process then checks the results against ``best.keras``
loaded here: the same probabilities, the same per-volume DSC.
"""

import csv
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from keras_seg import backend
from keras_seg.data import synthetic
from keras_seg.export import load_saved_model

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = {
    "model": {"name": "unet", "filters": 4, "depth": 2},
    "data": {"name": "synthetic", "image_size": 32, "augment": False, "val_volumes": 2,
             "options": {"num_volumes": 6, "slices_per_volume": 4}},
    "training": {"epochs": 1, "batch_size": 8},
}


def run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module", params=["jax", "torch"])
def workflow(request, tmp_path_factory):
    """(backend, folder): a run trained, predicted and exported again under ``backend``."""
    name = request.param
    if not backend.is_installed(name):
        pytest.skip(f"Keras backend '{name}' is not installed (pip install {name})")
    if backend.current() != "tensorflow":
        pytest.skip("the backend workflow test checks from the TensorFlow backend")
    folder = tmp_path_factory.mktemp(f"workflow_{name}")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run(["train.py", "--config", str(folder / "tiny.yaml"), "--output", str(folder / "run")],
        env)
    run(["-m", "keras_seg", "predict", "--model", str(folder / "run" / "best.keras"),
         "--output", str(folder / "predict"), "--data-option", "num_volumes=2",
         "--data-option", "slices_per_volume=3"], env)
    # Started on the default backend, `--backend` restarts the command on the asked one.
    env.pop("KERAS_BACKEND")
    proc = run(["-m", "keras_seg", "export", "--backend", name, "--model",
                str(folder / "run" / "best.keras"), "--output", str(folder / "exported")], env)
    assert proc.stdout.strip().endswith(f"(Keras backend: {name})")
    return name, folder


@pytest.mark.slow
def test_run_directory_is_complete(workflow):
    _, folder = workflow
    run_dir = folder / "run"
    for file in ("config.yaml", "best.keras", "history.csv", "summary.json",
                 "saved_model/saved_model.pb"):
        assert (run_dir / file).is_file(), file
    history = pd.read_csv(run_dir / "history.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert history["epoch"].tolist() == [1] and summary["best_epoch"] == 1
    assert summary["best_val_dsc"] == pytest.approx(history["val_dsc"].iloc[0])
    assert summary["data"] == {"train_volumes": 4, "val_volumes": 2,
                               "train_slices": 16, "val_slices": 8}


@pytest.mark.slow
@pytest.mark.parametrize("saved_model", ["run/saved_model", "exported"])
def test_saved_models_serve_the_probabilities_of_best_keras(workflow, saved_model):
    _, folder = workflow
    images = synthetic.generate(num_volumes=1, slices_per_volume=3, image_size=32).images
    expected = np.asarray(keras.models.load_model(folder / "run" / "best.keras")(images))
    loaded = load_saved_model(str(folder / saved_model))
    assert int(loaded.stride[0]) == 4
    np.testing.assert_allclose(np.asarray(loaded.serve(images)), expected, atol=1e-5)


@pytest.mark.slow
def test_predict_scores_what_best_keras_predicts(workflow):
    _, folder = workflow
    data = synthetic.generate(num_volumes=2, slices_per_volume=3, image_size=32)
    model = keras.models.load_model(folder / "run" / "best.keras")
    pred = np.asarray(model(data.images, training=False))[..., 0] > 0.5
    truth = data.masks[..., 0] > 0
    with open(folder / "predict" / "per_volume_dsc.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["volume"] for r in rows] == data.volumes
    for row in rows:
        v = data.volume_ids == row["volume"]
        total = pred[v].sum() + truth[v].sum()
        expected = 1.0 if total == 0 else 2 * (pred[v] & truth[v]).sum() / total
        assert float(row["dsc"]) == pytest.approx(expected, abs=1e-12)
