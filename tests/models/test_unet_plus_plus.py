"""UNet++: nested dense skips and deep supervision."""

import keras
import numpy as np
import pytest

from keras_seg.losses import DeepSupervisionLoss
from keras_seg.models import (
    deep_supervision_weights,
    head_count,
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


def _heads(model, x):
    """Every head of a deep-supervised model, shallowest first: the training-step output."""
    stacked = keras.ops.convert_to_numpy(model(x, training=True))
    return [stacked[..., i] for i in range(stacked.shape[-1])]


@pytest.mark.parametrize("depth", [2, 3])
def test_deep_supervision_has_one_head_per_depth_only_while_training(depth):
    model = unet_plus_plus(filters=4, depth=depth, num_classes=2, deep_supervision=True)
    assert output_count(model) == 1 and head_count(model) == depth
    x = _images()
    heads = _heads(model, x)
    assert len(heads) == depth
    for out in heads:
        assert out.shape == (2, 32, 32, 2) and out.dtype == np.float32
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)
    # Inference: the full-depth head alone (BatchNorm in inference mode on both sides).
    final = keras.ops.convert_to_numpy(model(x, training=False))
    assert final.shape == (2, 32, 32, 2)
    last = model.get_layer(f"unet_plus_plus_out{depth}")
    probe = keras.Model(model.input, last.output)
    np.testing.assert_array_equal(final, keras.ops.convert_to_numpy(probe(x)))
    assert head_count(unet_plus_plus(filters=4, depth=depth)) == 1


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


def test_deep_supervision_loss_is_the_weighted_sum_of_the_head_losses():
    model = unet_plus_plus(filters=4, depth=2, deep_supervision=True)
    x = _images(1)
    y = (x[..., :1] > 0.5).astype("float32")
    bce = keras.losses.BinaryCrossentropy()
    heads = _heads(model, x)
    wrapped = DeepSupervisionLoss(bce, [0.25, 0.75])
    expected = 0.25 * float(bce(y, heads[0])) + 0.75 * float(bce(y, heads[1]))
    stacked = model(x, training=True)
    assert float(wrapped(y, stacked)) == pytest.approx(expected, rel=1e-5)
    # evaluation sees the final head only: the plain loss of it
    final = model(x, training=False)
    assert float(wrapped(y, final)) == pytest.approx(float(bce(y, final)), rel=1e-6)
    assert DeepSupervisionLoss(bce, heads=4).weights == [0.25] * 4


def test_deep_supervision_training_step_lowers_every_head_loss():
    keras.utils.set_random_seed(0)
    model = unet_plus_plus(filters=4, depth=2, deep_supervision=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=DeepSupervisionLoss(keras.losses.BinaryCrossentropy(), heads=2),
                  run_eagerly=True)
    x = _images(1)
    y = (x[..., :1] > 0.5).astype("float32")
    bce = keras.losses.BinaryCrossentropy()

    def losses_now():
        return [float(bce(y, out)) for out in _heads(model, x)]

    before = losses_now()
    model.train_on_batch(x, y)  # one target: the heads exist only inside the training step
    assert all(a < b for a, b in zip(losses_now(), before, strict=True))


def test_inference_model_keeps_the_final_output_of_a_multi_output_model():
    # keras-seg 0.1 saved UNet++ with one output per head; such files still predict.
    model = unet_plus_plus(filters=4, depth=2)
    two = keras.Model(model.input, [model.output, model.output])
    final = inference_model(two)
    assert output_count(final) == 1
    assert inference_model(model) is model


def test_deep_supervision_keras_round_trip(tmp_path):
    model = unet_plus_plus(filters=4, depth=2, deep_supervision=True)
    model.compile(optimizer="adam", loss=DeepSupervisionLoss(
        keras.losses.BinaryCrossentropy(), [0.3, 0.7]))
    model.save(tmp_path / "upp.keras")
    loaded = keras.models.load_model(tmp_path / "upp.keras")
    x = _images()
    for training in (False, True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(loaded(x, training=training)),
            keras.ops.convert_to_numpy(model(x, training=training)))
    assert loaded.loss.weights == [0.3, 0.7]


def test_deep_supervision_weights():
    assert deep_supervision_weights(4) == [0.25] * 4
    assert deep_supervision_weights(1) == [1.0]
    with pytest.raises(ValueError, match="outputs"):
        deep_supervision_weights(0)


def test_deep_supervision_must_be_a_bool():
    with pytest.raises(ValueError, match="deep_supervision"):
        unet_plus_plus(deep_supervision="yes")
