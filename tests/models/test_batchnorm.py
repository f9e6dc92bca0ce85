"""keras_seg's BatchNormalization: TensorFlow's fused training kernel, Keras' numbers."""

import keras
import numpy as np
import pytest

from keras_seg import backend
from keras_seg.models import get_model
from keras_seg.models.batchnorm import BatchNormalization

TF = backend.current() == "tensorflow"


def _pair(rng, channels, **options):
    """Keras' layer and ours, built, with the same random weights and moving statistics."""
    ours = BatchNormalization(**options)
    theirs = keras.layers.BatchNormalization(**options)
    for layer in (ours, theirs):
        layer.build((None, 5, 7, channels))
    weights = ([rng.normal(1, 0.3, channels)] if options.get("scale", True) else []) + (
        [rng.normal(0, 0.5, channels)] if options.get("center", True) else []) + [
        rng.normal(0, 0.5, channels), rng.uniform(0.5, 2.0, channels)]
    weights = [w.astype("float32") for w in weights]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def test_training_call_is_keras_and_hand_computed():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 5, 7, 4)) * [1, 3, 0.2, 8] + [0, 5, -1, 40]).astype("float32")
    ours, theirs = _pair(rng, 4, momentum=0.9, epsilon=1e-5)
    gamma, beta, mean0, var0 = (w.copy() for w in ours.get_weights())
    y = keras.ops.convert_to_numpy(ours(x, training=True))
    # by hand: biased batch statistics over batch, height and width
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * gamma + beta,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean.numpy(), 0.9 * mean0 + 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(ours.moving_variance.numpy(), 0.9 * var0 + 0.1 * var, rtol=1e-5)
    # and Keras' own layer, same weights
    np.testing.assert_allclose(y, keras.ops.convert_to_numpy(theirs(x, training=True)),
                               rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not TF, reason="the fused kernel is TensorFlow's")
@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False}])
def test_gradients_equal_keras(options):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(2, 3, size=(2, 6, 5, 3)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(2, 6, 5, 3)).astype("float32"))
    grads = []
    for layer in _pair(rng, 3, **options):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * upstream)
        grads.append(tape.gradient(loss, [x, *layer.trainable_weights]))
    assert len(grads[0]) == 1 + options.get("scale", True) + options.get("center", True)
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not TF, reason="the fused kernel is TensorFlow's")
def test_training_runs_the_fused_kernel_and_inference_does_not():
    import tensorflow as tf

    layer = BatchNormalization()
    layer.build((None, 4, 4, 2))

    def ops(training):
        graph = tf.function(lambda t: layer(t, training=training)).get_concrete_function(
            tf.TensorSpec((None, 4, 4, 2))).graph
        return {op.type for op in graph.get_operations()}

    assert "FusedBatchNormV3" in ops(True)
    assert "FusedBatchNormV3" not in ops(False)


@pytest.mark.skipif(not TF, reason="XLA through tf.function is TensorFlow's")
def test_under_xla_keras_own_call_keeps_a_large_mean_exact():
    """XLA's FusedBatchNormV3 computes E[x^2] - E[x]^2: at mean 100, spread 0.01 that is a
    negative variance and NaN outputs. Compiled steps take Keras' call instead."""
    import tensorflow as tf

    rng = np.random.default_rng(4)
    x = tf.constant((100 + 0.01 * rng.normal(size=(16, 8, 8, 3))).astype("float32"))
    results = []
    for layer in _pair(rng, 3):
        y = tf.function(lambda t, layer=layer: layer(t, training=True), jit_compile=True)(x)
        results.append((y.numpy(), layer.moving_variance.numpy()))
    (y_ours, var_ours), (y_keras, var_keras) = results
    assert np.isfinite(y_ours).all() and (var_ours > 0).all()
    np.testing.assert_allclose(y_ours, y_keras, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(var_ours, var_keras, rtol=1e-6)


def test_float64_keeps_its_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float64")
    try:
        x = np.random.default_rng(5).normal(3, 2, size=(2, 4, 4, 2))
        ours, theirs = BatchNormalization(), keras.layers.BatchNormalization()
        y = [keras.ops.convert_to_numpy(layer(x, training=True)) for layer in (ours, theirs)]
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert y[0].dtype == np.float64
    np.testing.assert_allclose(y[0], y[1], rtol=1e-12, atol=1e-12)


def test_keras_paths_are_kept_where_the_kernel_does_not_apply():
    rng = np.random.default_rng(2)
    # 2-D input (after a Dense layer) and channels-first: Keras' own call
    for shape, axis in (((6, 3), -1), ((2, 3, 4, 5), 1)):
        x = rng.normal(size=shape).astype("float32")
        ours, theirs = BatchNormalization(axis=axis), keras.layers.BatchNormalization(axis=axis)
        for training in (True, False):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=training)),
                                       keras.ops.convert_to_numpy(theirs(x, training=training)),
                                       rtol=1e-5, atol=1e-5)
    # a frozen layer normalises with its moving statistics even when training
    ours, _ = _pair(rng, 4)
    ours.trainable = False
    x = rng.normal(size=(2, 5, 7, 4)).astype("float32")
    before = [w.copy() for w in ours.get_weights()]
    gamma, beta, mean, var = before
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=True)),
                               (x - mean) / np.sqrt(var + 1e-3) * gamma + beta,
                               rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bfloat16_policy_keeps_its_dtype():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = BatchNormalization()
        y = layer(np.ones((2, 3, 3, 2), "float32") * [[1.0, 4.0]], training=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert layer.moving_mean.dtype == "float32"
    np.testing.assert_allclose(layer.moving_mean.numpy(), [0.01, 0.04], rtol=1e-5)


def test_models_use_it_and_it_reloads(tmp_path):
    model = get_model("unet", input_shape=(None, None, 3), filters=4, depth=2)
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is BatchNormalization for layer in norms)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert sum(type(layer) is BatchNormalization for layer in loaded.layers) == len(norms)
    x = np.random.default_rng(3).normal(size=(1, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-6)


def test_an_encoders_batchnorm_layers_are_converted():
    model = get_model("unet", input_shape=(None, None, 3), encoder="resnet50", depth=2,
                      filters=4)
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    encoder = [layer for layer in norms if "_encoder_" in layer.name]
    assert encoder and all(type(layer) is BatchNormalization for layer in norms)
    # keras.applications' own epsilon is kept (ResNet: 1.001e-5), the momentum is ours
    assert {layer.epsilon for layer in encoder} == {1.001e-5}
    assert {layer.momentum for layer in encoder} == {0.9}
