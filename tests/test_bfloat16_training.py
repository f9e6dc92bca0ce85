"""bfloat16 training (oneDNN's rewrite with the loss kept in float32): finite, close to float32."""

import os

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from keras_seg import backend, losses, training
from keras_seg import config as config_lib
from keras_seg.models import get_model

NATIVE = backend.cpu_has_bfloat16() and backend.current() == "tensorflow"
pytestmark = pytest.mark.skipif(backend.current() != "tensorflow" or backend.has_gpu(),
                                reason="oneDNN's rewrite is TensorFlow's, on a CPU")



def test_native_cpu_trains_under_the_rewrite_with_float32_weights(monkeypatch):
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: True)
    before = keras.mixed_precision.global_policy().name
    with backend.mixed_precision_policy(True) as policy:
        assert policy == "onednn_bfloat16" and backend.onednn_bfloat16_on()
        layer = keras.layers.Dense(2)
        assert (layer.compute_dtype, layer.variable_dtype) == ("float32", "float32")
        for op in ("Sigmoid", "Log", "Sum"):
            assert op in os.environ[
                "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_DENYLIST_ADD"].split(",")
            assert op in os.environ[
                "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_INFERLIST_REMOVE"].split(",")
    assert not backend.onednn_bfloat16_on() and keras.mixed_precision.global_policy().name == before


def test_auto_is_the_rewrite_only_where_it_applies(monkeypatch):
    before = keras.mixed_precision.global_policy().name
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: False)
    with backend.mixed_precision_policy("auto") as policy:  # not Keras' mixed_bfloat16
        assert policy == before == "float32" and not backend.onednn_bfloat16_on()
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: True)
    with backend.mixed_precision_policy("auto", jit=True) as policy:  # XLA skips the rewrite
        assert policy == "float32" and not backend.onednn_bfloat16_on()
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    with backend.mixed_precision_policy("auto") as policy:
        assert policy == "float32" and not backend.onednn_bfloat16_on()
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    with backend.mixed_precision_policy("auto") as policy:
        assert policy == "onednn_bfloat16" and backend.onednn_bfloat16_on()
    assert not backend.onednn_bfloat16_on()


def test_a_rewrite_turned_on_before_stays_on():
    backend.onednn_bfloat16(True)
    try:
        with backend.precision_scope("bfloat16"):
            assert backend.onednn_bfloat16_on()
        assert backend.onednn_bfloat16_on()
    finally:
        backend.onednn_bfloat16(False)


def test_a_users_own_rewrite_lists_are_kept(monkeypatch):
    key = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_DENYLIST_ADD"
    monkeypatch.setenv(key, "Tanh,Log")
    backend.onednn_bfloat16(True)
    backend.onednn_bfloat16(False)
    listed = os.environ[key].split(",")
    assert listed[:2] == ["Tanh", "Log"] and listed.count("Log") == 1
    assert set(backend.FLOAT32_OPS) <= set(listed)


def _loss_and_gradient(name, precision, saturate):
    """Loss and gradient norm of a fixed U-Net on a fixed batch (empty masks included)."""
    keras.utils.set_random_seed(0)
    classes = 2 if name == "dice_ce" else 1
    model = get_model("unet", input_shape=(None, None, 3), filters=8, depth=3,
                      num_classes=classes)
    if saturate:  # logits near +12: a sigmoid of 1.0 in bfloat16
        bias = [w for w in model.weights if "bias" in w.path][-1]
        bias.assign(bias + 12.0)
    loss = losses.get(name)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 64, 64, 3)).astype("float32")
    y = np.zeros((4, 64, 64, 1), "float32")
    y[:2, 10:40, 20:50] = 1
    if classes == 2:
        y = np.concatenate([1 - y, y], axis=-1)
    with backend.precision_scope(precision):
        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=True))
            return value, tf.linalg.global_norm(tape.gradient(value, model.trainable_weights))

        return [float(v) for v in step(x, y)]


@pytest.mark.skipif(not NATIVE, reason="bfloat16 is emulated or absent on this CPU")
@pytest.mark.parametrize("saturate", [False, True], ids=["init", "saturated"])
def test_every_loss_is_finite_and_near_float32(saturate):
    for name in losses.NAMES:
        full = _loss_and_gradient(name, "float32", saturate)
        half = _loss_and_gradient(name, "bfloat16", saturate)
        assert np.isfinite(half).all(), (name, half)
        # the loss itself is float32 from the output on: only the network's bfloat16 rounding
        assert half[0] == pytest.approx(full[0], rel=0.01, abs=1e-4), name
        assert half[1] == pytest.approx(full[1], rel=0.05, abs=1e-5), name
        if not saturate and name == "bce":  # the rewrite really ran
            assert half != full


@pytest.mark.slow
@pytest.mark.skipif(not NATIVE, reason="bfloat16 is emulated or absent on this CPU")
def test_mixed_precision_training_learns_like_float32(tmp_path, monkeypatch):
    """The synthetic set, 6 epochs: bfloat16 ends within 0.05 DSC of float32, weights float32."""
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: True)  # tests/conftest.py
    results = {}
    for mixed in (False, True):
        config = config_lib.resolve(None, {
            "model": {"name": "unet", "filters": 8, "depth": 3}, "data": {"image_size": 64},
            "training": {"batch_size": 16, "epochs": 6, "mixed_precision": mixed},
            "output": str(tmp_path / f"run{int(mixed)}")})
        results[mixed] = training.train(config, verbose=0)
    assert results[True]["precision"] == "onednn_bfloat16"
    losses_by_run = [pd.read_csv(tmp_path / f"run{i}" / "history.csv")["loss"] for i in (0, 1)]
    assert losses_by_run[0][0] != losses_by_run[1][0]  # the rewrite really trained
    assert results[False]["precision"] == "float32"
    assert np.isfinite(results[True]["best_val_dsc"])
    assert results[False]["best_val_dsc"] > 0.5
    assert abs(results[True]["best_val_dsc"] - results[False]["best_val_dsc"]) < 0.05
    model = keras.saving.load_model(tmp_path / "run1" / "best.keras", compile=False)
    assert {w.dtype for w in model.weights} == {"float32"}
