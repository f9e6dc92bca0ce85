"""bfloat16 inference (oneDNN's graph rewrite): close to float32, chosen where it is native."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_seg import backend
from keras_seg.errors import UserError
from keras_seg.models import fold_batchnorm, get_model

NATIVE = backend.cpu_has_bfloat16()



def _probabilities(model, x, precision):
    with backend.precision_scope(precision):
        fn = tf.function(lambda t: model(t, training=False))  # traced inside the scope
        return fn(x).numpy()


def test_bfloat16_probabilities_are_within_0_02_of_float32():
    keras.utils.set_random_seed(0)
    model = get_model("unet", input_shape=(None, None, 3), filters=8, depth=3)
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    full = _probabilities(model, x, "float32")
    half = _probabilities(model, x, "bfloat16")
    assert half.dtype == np.float32 and half.shape == full.shape
    # bfloat16 keeps 8 bits of mantissa: about 0.4 % per product, a few ulps through the net
    assert np.abs(half - full).max() < 0.02
    if NATIVE:  # the rewrite really ran (elsewhere TensorFlow may leave the graph as it is)
        assert np.abs(half - full).max() > 1e-6
    assert not backend.onednn_bfloat16_on()  # the scope puts the process back as it was


def test_folded_batchnorm_under_bfloat16_is_within_0_02_of_the_float32_model():
    """What predict runs by default on such a CPU: the folded copy, under the rewrite."""
    keras.utils.set_random_seed(1)
    model = get_model("unet", input_shape=(None, None, 3), filters=8, depth=3)
    rng = np.random.default_rng(2)
    for layer in model.layers:  # statistics far from the defaults, so that folding matters
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.3, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.2, 4.0, n).astype("float32"))
    x = rng.normal(size=(2, 64, 64, 3)).astype("float32")
    full = _probabilities(model, x, "float32")
    folded = _probabilities(fold_batchnorm(model), x, "bfloat16")
    assert np.abs(folded - full).max() < 0.02 and np.abs(folded - full).mean() < 0.005


def test_auto_is_bfloat16_only_on_a_native_tensorflow_cpu(monkeypatch):
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: True)
    assert backend.inference_precision("auto") == "bfloat16"
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: False)
    assert backend.inference_precision("auto") == "float32"
    assert backend.inference_precision("bfloat16") == "bfloat16"  # asked for: honoured
    assert backend.inference_precision("float32") == "float32"
    with pytest.raises(UserError, match="unknown precision 'half'; valid: auto, float32"):
        backend.inference_precision("half")
