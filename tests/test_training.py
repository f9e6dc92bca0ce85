"""Training reliability: crash-safe resume, the NaN guard, the per-volume-DSC checkpoint."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from keras_seg import config as config_lib
from keras_seg import training

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = {"model": {"name": "unet", "filters": 4, "depth": 3},
        "data": {"image_size": 64}, "training": {"batch_size": 32}}


def _tiny_config(tmp_path, **training_overrides):
    overrides = {**TINY, "training": {**TINY["training"], **training_overrides},
                 "output": str(tmp_path / "run")}
    return config_lib.resolve(None, overrides)


@pytest.mark.slow
def test_kill_9_then_resume_gives_every_epoch_once(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], "epochs": 4}}))
    run = tmp_path / "run"
    cmd = [sys.executable, "train.py", "--config", str(cfg), "--output", str(run)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / training.LAST_STATE
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epochs_done"] >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epochs_done"]
    assert 2 <= done < 4
    assert not (run / "summary.json").exists()

    resumed = subprocess.run([sys.executable, "train.py", "--resume", "--output", str(run)],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 4
    assert summary["best_val_dsc"] == pytest.approx(history["val_dsc"].max())
    assert summary["best_epoch"] == int(history.loc[history["val_dsc"].idxmax(), "epoch"])
    keras.models.load_model(run / "best.keras")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_on_localhost_train_and_only_the_chief_writes(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], "epochs": 1}}))
    run = tmp_path / "run"
    workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "train.py", "--config", str(cfg), "--output", str(run),
             "--distribute", "multi_worker"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert procs[0].returncode == 0, outputs[0][-3000:]
    assert "best val_dsc" in outputs[0] and "saving" in outputs[0]
    assert "saving" not in outputs[1]  # the second worker writes nothing of the run
    keras.models.load_model(run / "best.keras")
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [1]
    assert json.loads((run / "summary.json").read_text())["epochs_run"] == 1


def test_resume_without_checkpoint_is_a_user_error(tmp_path):
    config = _tiny_config(tmp_path, resume=True)
    with pytest.raises(training.UserError, match="no checkpoint to resume"):
        training.train(config)


def test_nan_guard_stops_at_the_first_bad_batch_and_keeps_best(tmp_path, monkeypatch):
    """Epoch 1 trains on finite data; epoch 2 feeds NaN images from its first batch."""
    real_make_dataset = training.make_dataset
    epochs_started = []

    def poisoned_make_dataset(data, batch_size, *, training, **kwargs):
        ds = real_make_dataset(data, batch_size, training=training, **kwargs)
        if not training:
            return ds

        def batches():
            epochs_started.append(1)
            for x, y in ds:
                yield (x * np.nan if len(epochs_started) >= 2 else x), y
        return tf.data.Dataset.from_generator(batches, output_signature=ds.element_spec)

    monkeypatch.setattr(training, "make_dataset", poisoned_make_dataset)
    config = _tiny_config(tmp_path, epochs=3)
    with pytest.raises(training.TrainingDiverged, match="epoch 2, batch 1"):
        training.train(config)
    run = pathlib.Path(config["output"])
    summary = json.loads((run / "summary.json").read_text())
    assert "epoch 2, batch 1" in summary["stopped"] and summary["best_epoch"] == 1
    best = keras.models.load_model(run / "best.keras")
    assert all(np.isfinite(w).all() for w in best.get_weights())
    state = json.loads((run / training.LAST_STATE).read_text())
    assert state["epochs_done"] == 1  # the diverged epoch is never checkpointed for resume


def test_explicit_validation_volumes(tmp_path):
    config = _tiny_config(tmp_path, epochs=1)
    config["data"]["val_volume_ids"] = ["synthetic_000", "synthetic_005"]
    summary = training.train(config)
    assert summary["data"]["val_volumes"] == 2 and summary["data"]["val_slices"] == 16
    assert set(summary["val_dsc_per_volume"]) == {"synthetic_000", "synthetic_005"}
    # the per-volume scores are best.keras's: their mean is best_val_dsc
    assert np.mean(list(summary["val_dsc_per_volume"].values())) == pytest.approx(
        summary["best_val_dsc"])
    saved = yaml.safe_load((pathlib.Path(config["output"]) / "config.yaml").read_text())
    assert saved["data"]["val_volume_ids"] == ["synthetic_000", "synthetic_005"]
    assert os.path.isfile(os.path.join(config["output"], "saved_model", "saved_model.pb"))
    # post-processing was tried on the validation volumes and its choice recorded
    record = json.loads((pathlib.Path(config["output"]) / "postprocess.json").read_text())
    assert summary["postprocess"] == record["chosen"]
    assert record["baseline_dsc"] == pytest.approx(summary["best_val_dsc"], abs=1e-6)


def test_kfold_config_selects_disjoint_folds_covering_every_volume():
    from keras_seg.data import synthetic

    data = synthetic.generate(num_volumes=9, slices_per_volume=2, image_size=32)
    dcfg = config_lib.resolve(None, {"data": {"folds": 3}})["data"]
    vals = [training._split(data, {**dcfg, "fold": k})[1].volumes for k in range(3)]
    assert [len(v) for v in vals] == [3, 3, 3]
    assert sorted(sum(vals, [])) == sorted(data.volumes)
    train, val = training._split(data, {**dcfg, "fold": 1})
    assert not set(train.volumes) & set(val.volumes) and len(train) + len(val) == len(data)


@pytest.mark.slow
def test_unfreeze_epoch_trains_the_encoder_from_that_epoch_and_resumes(tmp_path):
    """Epoch 1 with a frozen encoder, epoch 2 with the whole model; a resume keeps it unfrozen."""
    config = config_lib.resolve(None, {
        "model": {"name": "unet", "encoder": "mobilenetv2", "encoder_freeze": True,
                  "filters": 4},
        "data": {"image_size": 32, "options": {"num_volumes": 6, "slices_per_volume": 4},
                 "val_volumes": 2},
        "training": {"epochs": 2, "batch_size": 8, "unfreeze_epoch": 1},
        "output": str(tmp_path / "run")})
    run = tmp_path / "run"
    encoder_weights = {}

    class Snapshot(keras.callbacks.Callback):
        def weights(self):
            return [np.array(w) for w in self.model.weights
                    if "_encoder_" in w.path and "moving" not in w.path]

        def on_train_begin(self, logs=None):
            encoder_weights.setdefault("start", self.weights())

        def on_epoch_end(self, epoch, logs=None):
            encoder_weights[epoch] = self.weights()

    real = training.make_callbacks

    def with_snapshot(*args, **kwargs):
        callbacks = real(*args, **kwargs)
        callbacks.all.append(Snapshot())
        return callbacks

    training.make_callbacks = with_snapshot
    try:
        summary = training.train(config)
    finally:
        training.make_callbacks = real
    assert summary["epochs_run"] == 2
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [1, 2]
    # epoch 1 (frozen) left the encoder's weights as built, epoch 2 (unfrozen) changed them
    assert encoder_weights[0] and all(np.array_equal(a, b) for a, b in
                                      zip(encoder_weights["start"], encoder_weights[0],
                                          strict=True))
    changed = [not np.array_equal(a, b) for a, b in
               zip(encoder_weights[0], encoder_weights[1], strict=True)]
    assert any(changed)
    last = keras.models.load_model(run / training.LAST_CHECKPOINT)
    assert all(layer.trainable for layer in last.layers if "_encoder_" in layer.name)
    resumed = training.train(training.resume_config(str(run), {"training": {"epochs": 3}}))
    assert resumed["epochs_run"] == 3


def test_unfreeze_epoch_without_a_frozen_encoder_is_refused(tmp_path):
    config = _tiny_config(tmp_path, unfreeze_epoch=1)
    with pytest.raises(training.UserError, match="unfreeze_epoch needs a frozen encoder"):
        training.train(config)
    assert not (tmp_path / "run").exists()
