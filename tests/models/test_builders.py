"""Behaviour every model builder shares: shapes, heads, training, saving, size checks."""

import keras
import numpy as np
import pytest

from keras_seg.models import MODEL_NAMES, get_model
from keras_seg.models.bilinear_upsampling import BilinearUpSampling2D


@pytest.fixture(scope="module")
def build(small_options):
    """Build (once per module) the small ``name`` model for ``num_classes`` and ``channels``."""
    cache = {}

    def _build(name, num_classes=1, channels=3):
        key = (name, num_classes, channels)
        if key not in cache:
            keras.utils.set_random_seed(0)
            cache[key] = get_model(
                name,
                input_shape=(None, None, channels),
                num_classes=num_classes,
                **small_options[name],
            )
        return cache[key]

    return _build


def _images(batch, height, width, channels, seed=0):
    return (
        np.random.default_rng(seed).normal(size=(batch, height, width, channels)).astype("float32")
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize(("num_classes", "channels"), [(1, 1), (3, 4)])
def test_output_shape_at_two_sizes(build, name, num_classes, channels):
    model = build(name, num_classes, channels)
    for height, width in ((32, 32), (64, 96)):
        probs = keras.ops.convert_to_numpy(model(_images(2, height, width, channels)))
        assert probs.shape == (2, height, width, num_classes)
        assert probs.dtype == np.float32
        assert probs.min() >= 0.0 and probs.max() <= 1.0
        if num_classes > 1:
            np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fixed_size_gives_static_output_shape(small_options, name):
    model = get_model(name, input_shape=(64, 96, 2), num_classes=2, **small_options[name])
    assert tuple(model.output.shape) == (None, 64, 96, 2)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_refuses_size_not_divisible_by_stride(small_options, strides, name):
    bad = 64 + strides[name] // 2
    with pytest.raises(ValueError, match=rf"height {bad} is not divisible by {strides[name]}"):
        get_model(name, input_shape=(bad, 64, 3), **small_options[name])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_refuses_unknown_channel_count(name):
    with pytest.raises(ValueError, match="channel count"):
        get_model(name, input_shape=(None, None, None))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_layers_are_named_and_no_lambda(build, name):
    model = build(name)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert all(n.startswith(f"{name}_") for n in names)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_logits_head_matches_probabilities(small_options, name):
    probs_model = get_model(name, **small_options[name])
    logits_model = get_model(name, activation=None, **small_options[name])
    logits_model.set_weights(probs_model.get_weights())
    assert logits_model.layers[-1].name == f"{name}_logits"
    assert probs_model.layers[-1].name == f"{name}_probs"
    x = _images(1, 32, 32, 3)
    logits = keras.ops.convert_to_numpy(logits_model(x))
    assert logits.dtype == np.float32
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.sigmoid(logits)),
        keras.ops.convert_to_numpy(probs_model(x)),
        atol=1e-6,
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_training_steps_lower_the_loss(build, name):
    model = build(name)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", run_eagerly=True
    )
    # 64 px: at 32 px a stride-32 encoder's deepest batch norm sees two values per channel and
    # single Adam steps go either way; five steps on a 2x2 deepest map lower it for every model.
    x = _images(2, 64, 64, 3, seed=1)
    y = (x[..., :1] > 0.5).astype("float32")
    loss_fn = keras.losses.BinaryCrossentropy()

    def loss_now():
        return float(loss_fn(y, model(x, training=True)))

    before = loss_now()
    for _ in range(5):
        model.train_on_batch(x, y)
    assert loss_now() < before


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keras_round_trip_gives_identical_outputs(build, tmp_path, name):
    model = build(name, num_classes=3, channels=4)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode=True: fails on any Lambda layer
    x = _images(2, 32, 64, 4)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x))
    )
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_mixed_precision_keeps_float32_outputs(mixed_precision, small_options, name):
    model = get_model(name, **small_options[name])
    assert model.layers[1].compute_dtype == "float16"
    out = model(_images(1, 32, 32, 3))
    assert keras.ops.convert_to_numpy(out).dtype == np.float32


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("num_classes", 0, "num_classes"),
        ("activation", "relu", "activation"),
        ("dropout", 1.0, "dropout"),
        ("upsampling", "nearest", "upsampling"),
    ],
)
def test_refuses_bad_option_values(name, option, value, message):
    with pytest.raises(ValueError, match=message):
        get_model(name, **{option: value})


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bilinear_upsampling_and_dropout(small_options, bilinear, name):
    model = get_model(name, dropout=0.5, **bilinear(name), **small_options[name])
    layer_types = {type(layer) for layer in model.layers}
    assert BilinearUpSampling2D in layer_types
    assert keras.layers.Conv2DTranspose not in layer_types
    assert keras.layers.Dropout in layer_types
    x = _images(1, 32, 32, 3)
    # Dropout is active only in training.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(model(x))
    )
