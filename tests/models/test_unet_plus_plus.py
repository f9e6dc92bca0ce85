"""UNet++: nested dense skips and deep supervision."""

import keras
import numpy as np
import pytest

from keras_seg.models import (
    deep_supervision_weights,
    inference_model,
    output_count,
    unet,
    unet_plus_plus,
)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _images(seed=0):
    return np.random.default_rng(seed).normal(size=(2, 32, 32, 3)).astype("float32")


def test_depth_one_is_a_unet():
    # With one pooling there is a single nested node, X(0, 1): exactly U-Net's decoder block.
    assert _trainable(unet_plus_plus(depth=1, filters=8)) == _trainable(unet(depth=1, filters=8))


def test_nested_nodes_and_dense_skips():
    depth = 3
    model = unet_plus_plus(filters=4, depth=depth)
    for j in range(1, depth + 1):
        for i in range(depth - j + 1):
            concat = model.get_layer(f"unet_plus_plus_x{i}_{j}_concat")
            # j dense skips from the same level plus the upsampled node below.
            assert len(concat.input) == j + 1
            assert concat.output.shape[-1] == (j + 1) * 4 * 2**i
    assert model.output.shape[-1] == 1 and output_count(model) == 1


@pytest.mark.parametrize("depth", [2, 3])
def test_deep_supervision_has_one_output_per_depth(depth):
    model = unet_plus_plus(filters=4, depth=depth, num_classes=2, deep_supervision=True)
    assert output_count(model) == depth
    assert model.output_names == [f"unet_plus_plus_out{j}" for j in range(1, depth + 1)]
    outputs = model(_images())
    assert len(outputs) == depth
    for out in outputs:
        out = keras.ops.convert_to_numpy(out)
        assert out.shape == (2, 32, 32, 2) and out.dtype == np.float32
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)


def test_deep_supervision_heads_are_separate_and_activated_once():
    model = unet_plus_plus(filters=4, depth=2, deep_supervision=True)
    for j in (1, 2):
        head = model.get_layer(f"unet_plus_plus_out{j}")
        assert head.get_config()["activation"] == "sigmoid"
        assert head.input is model.get_layer(f"unet_plus_plus_out{j}_conv").output
        assert (
            model.get_layer(f"unet_plus_plus_out{j}_conv").input
            is model.get_layer(f"unet_plus_plus_x0_{j}_relu2").output
        )


def test_deep_supervision_training_step_lowers_every_loss():
    keras.utils.set_random_seed(0)
    model = unet_plus_plus(filters=4, depth=2, deep_supervision=True)
    n = output_count(model)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=["binary_crossentropy"] * n,
        loss_weights=deep_supervision_weights(n),
        run_eagerly=True,
    )
    x = _images(1)
    y = (x[..., :1] > 0.5).astype("float32")
    bce = keras.losses.BinaryCrossentropy()

    def losses_now():
        return [float(bce(y, out)) for out in model(x, training=True)]

    before = losses_now()
    model.train_on_batch(x, (y,) * n)
    assert all(a < b for a, b in zip(losses_now(), before, strict=True))


def test_inference_model_keeps_the_final_output(tmp_path):
    model = unet_plus_plus(filters=4, depth=2, deep_supervision=True)
    final = inference_model(model)
    assert output_count(final) == 1
    x = _images()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(final(x)), keras.ops.convert_to_numpy(model(x)[-1])
    )
    single = unet_plus_plus(filters=4, depth=2)
    assert inference_model(single) is single


def test_deep_supervision_keras_round_trip(tmp_path):
    model = unet_plus_plus(filters=4, depth=2, deep_supervision=True)
    model.save(tmp_path / "upp.keras")
    loaded = keras.models.load_model(tmp_path / "upp.keras")
    x = _images()
    for a, b in zip(loaded(x), model(x), strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_deep_supervision_weights():
    assert deep_supervision_weights(4) == [0.25] * 4
    assert deep_supervision_weights(1) == [1.0]
    with pytest.raises(ValueError, match="outputs"):
        deep_supervision_weights(0)


def test_deep_supervision_must_be_a_bool():
    with pytest.raises(ValueError, match="deep_supervision"):
        unet_plus_plus(deep_supervision="yes")
