"""The numerical contract every loss keeps: finite values and gradients, float32 sums under
float16/bfloat16 inputs, empty + empty = perfect, from_logits parity, one value per image, and a
better prediction always scoring lower."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from keras_seg import losses

BINARY = tuple(name for name in losses.NAMES if name != "dice_ce")
DICE_TYPE = ("dice", "log_dice", "bce_dice", "bce_logdice", "focal_dice", "weighted_dice",
             "weighted_bce_dice", "soft_iou", "tversky", "focal_tversky")
PROPERTY = settings(max_examples=15, derandomize=True, deadline=None)


def value_and_grad(fn, y_true, y_pred, **kwargs):
    """Loss values (B,) and the gradient of their sum with respect to y_pred, as numpy."""
    y_pred = tf.convert_to_tensor(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = fn(y_true, y_pred, **kwargs)
        total = tf.reduce_sum(value)
    return value.numpy(), tape.gradient(total, y_pred).numpy()


def edge_case_batch():
    """Six 16x16 images: empty truth with p = 0 and p = 1, full truth with p = 0 and p = 1,
    a square predicted exactly, and a square predicted exactly wrong."""
    empty, full = np.zeros((16, 16, 1)), np.ones((16, 16, 1))
    sq = np.zeros((16, 16, 1))
    sq[4:10, 5:12] = 1
    y = np.stack([empty, empty, full, full, sq, sq]).astype("float32")
    p = np.stack([empty, full, empty, full, sq, 1 - sq]).astype("float32")
    return y, p


def assert_finite(*arrays):
    for a in arrays:
        assert np.all(np.isfinite(a)), a


@pytest.mark.parametrize("name", BINARY)
def test_finite_on_exact_probabilities_and_huge_logits(name):
    fn = getattr(losses, name)
    y, p = edge_case_batch()
    value, grad = value_and_grad(fn, y, p)
    assert value.shape == (6,)
    assert_finite(value, grad)
    value, grad = value_and_grad(fn, y, (2 * p - 1) * 1e4, from_logits=True)
    assert_finite(value, grad)
    if name in DICE_TYPE:
        value, grad = value_and_grad(fn, y, p, batch=True)
        assert_finite(value, grad)


@pytest.mark.parametrize("name", BINARY)
def test_empty_truth_and_empty_prediction_is_perfect(name):
    fn = getattr(losses, name)
    y = np.zeros((2, 8, 8, 1), "float32")
    kwargs = [{"batch": False}, {"batch": True}] if name in DICE_TYPE else [{}]
    for kw in kwargs:
        np.testing.assert_allclose(fn(y, y, **kw), [0.0, 0.0], atol=1e-5)
        np.testing.assert_allclose(fn(y, np.full_like(y, -1e4), from_logits=True, **kw),
                                   [0.0, 0.0], atol=1e-5)


@pytest.fixture(scope="module")
def large_inputs():
    """A 512x512 disk and a soft prediction of it."""
    yy, xx = np.mgrid[:512, :512]
    y = (((yy - 200) ** 2 + (xx - 300) ** 2) < 90**2).astype("float32")[None, ..., None]
    rng = np.random.default_rng(0)
    p = np.clip(0.7 * y + 0.3 * rng.random(y.shape), 0, 1).astype("float32")
    return y, p


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", BINARY)
def test_low_precision_inputs_are_summed_in_float32(name, dtype, large_inputs):
    fn = getattr(losses, name)
    y, p = large_inputs
    low = ops.cast(p, dtype)
    value, grad = value_and_grad(fn, y, low)
    assert value.dtype == np.float32
    assert_finite(value, grad)
    exact = np.asarray(fn(y, ops.cast(low, "float32")))
    np.testing.assert_allclose(value, exact, rtol=1e-6)
    # and close to the float32 prediction: no float16 overflow of the 262,144-pixel sums
    np.testing.assert_allclose(value, np.asarray(fn(y, p)), rtol=2e-2)


@pytest.mark.parametrize("name", BINARY)
def test_from_logits_equals_probabilities(name):
    fn = getattr(losses, name)
    rng = np.random.default_rng(3)
    y = (rng.random((3, 12, 12, 1)) > 0.6).astype("float32")
    y[0] = 0
    logits = (rng.normal(size=y.shape) * 3).astype("float32")
    probs = 1 / (1 + np.exp(-logits.astype("float64")))
    np.testing.assert_allclose(fn(y, logits, from_logits=True), fn(y, probs.astype("float32")),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", BINARY)
def test_one_value_per_image_for_both_truth_ranks(name):
    fn = getattr(losses, name)
    rng = np.random.default_rng(4)
    y = (rng.random((3, 12, 12, 1)) > 0.6).astype("uint8")
    p = rng.random((3, 12, 12, 1)).astype("float32")
    with_channel, without_channel = np.asarray(fn(y, p)), np.asarray(fn(y[..., 0], p))
    assert with_channel.shape == (3,) and with_channel.dtype == np.float32
    np.testing.assert_allclose(with_channel, without_channel, rtol=1e-6)
    # each image is scored on its own: dropping one changes nothing for the others
    np.testing.assert_allclose(np.asarray(fn(y[1:], p[1:])), with_channel[1:], rtol=1e-6)


@pytest.mark.parametrize(
    "name", ["dice", "log_dice", "weighted_dice", "soft_iou", "tversky", "focal_tversky"]
)
def test_batch_true_returns_the_pooled_value_for_every_image(name):
    fn = getattr(losses, name)
    y, p = edge_case_batch()
    pooled, per_image = np.asarray(fn(y, p, batch=True)), np.asarray(fn(y, p))
    assert pooled.shape == (6,)
    np.testing.assert_allclose(pooled, pooled[0], rtol=1e-6)
    assert not np.allclose(per_image, per_image[0])


def random_binary(seed, shape=(2, 8, 8, 1)):
    """A random mask (some images empty or full) and a prediction mixing exact 0, exact 1 and
    values in between."""
    rng = np.random.default_rng(seed)
    density = rng.choice([0.0, 0.3, 0.7, 1.0], size=(shape[0], 1, 1, 1))
    y = (rng.random(shape) < density).astype("float32")
    p = np.where(rng.random(shape) < 0.4, rng.integers(0, 2, size=shape), rng.random(shape))
    return y, p


@pytest.mark.parametrize("name", BINARY)
@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), step=st.floats(0.05, 1.0))
def test_better_prediction_scores_lower(name, seed, step):
    fn = getattr(losses, name)
    y, p = random_binary(seed)
    better = p + step * (y - p)
    before = np.asarray(fn(y, p.astype("float32")))
    after = np.asarray(fn(y, better.astype("float32")))
    assert np.all(after <= before + 1e-5 * (1 + np.abs(before))), (before, after)


@pytest.mark.parametrize("name", BINARY)
@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1.0, 30.0, 1e4]))
def test_finite_values_and_gradients_on_random_inputs(name, seed, scale):
    fn = getattr(losses, name)
    y, p = random_binary(seed)
    assert_finite(*value_and_grad(fn, y, p.astype("float32")))
    logits = ((2 * p - 1) * scale).astype("float32")
    assert_finite(*value_and_grad(fn, y, logits, from_logits=True))


# ---- multi-class ----

def random_multiclass(seed, k=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=(2, 6, 6))
    labels = np.where(rng.random(labels.shape) < 0.3, 255, labels)
    logits = (rng.normal(size=(2, 6, 6, k)) * rng.choice([1.0, 1e4])).astype("float32")
    return labels, logits


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), from_logits=st.booleans(),
       include_background=st.booleans())
def test_dice_ce_ignored_pixels_change_nothing(seed, from_logits, include_background):
    labels, logits = random_multiclass(seed)
    y_pred = logits if from_logits else np.asarray(ops.softmax(logits))
    changed = np.where((labels == 255)[..., None], np.random.default_rng(seed).random(
        y_pred.shape), y_pred).astype("float32")
    kwargs = {"ignore_index": 255, "from_logits": from_logits,
              "include_background": include_background}
    value, grad = value_and_grad(losses.dice_ce, labels, y_pred, **kwargs)
    assert_finite(value, grad)
    np.testing.assert_allclose(losses.dice_ce(labels, changed, **kwargs), value, rtol=1e-6)
    assert np.all(grad[labels == 255] == 0)


def test_dice_ce_target_forms_agree():
    labels, logits = random_multiclass(5)
    labels = np.where(labels == 255, 0, labels)
    probs = np.asarray(ops.softmax(logits / 1e4 if np.abs(logits).max() > 100 else logits))
    sparse = np.asarray(losses.dice_ce(labels, probs))
    np.testing.assert_allclose(losses.dice_ce(labels[..., None], probs), sparse, rtol=1e-6)
    np.testing.assert_allclose(losses.dice_ce(np.eye(3)[labels], probs), sparse, rtol=1e-6)
    np.testing.assert_allclose(losses.dice_ce(labels, np.log(probs), from_logits=True), sparse,
                               rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_dice_ce_low_precision_large_image(dtype):
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, size=(1, 512, 512))
    probs = np.eye(3)[labels] * 0.8 + 0.2 / 3
    low = ops.cast(probs, dtype)
    value, grad = value_and_grad(losses.dice_ce, labels, low, ignore_index=255)
    assert_finite(value, grad)
    np.testing.assert_allclose(value, losses.dice_ce(labels, ops.cast(low, "float32")), rtol=1e-6)


def test_dice_ce_exact_one_hot_predictions_are_finite():
    labels = np.array([[[0, 1], [2, 255]]])
    wrong = np.eye(3, dtype="float32")[[[[1, 2], [0, 0]]]]
    value, grad = value_and_grad(losses.dice_ce, labels, wrong, ignore_index=255)
    assert_finite(value, grad)
    assert value[0] > 10  # -log(1e-7) per wrong pixel
    empty_class = np.asarray(losses.dice_ce(np.zeros((1, 2, 2), "int32"),
                                            np.eye(3, dtype="float32")[np.zeros((1, 2, 2), int)]))
    np.testing.assert_allclose(empty_class, [0.0], atol=1e-6)


def test_dice_ce_needs_classes():
    with pytest.raises(ValueError, match="K >= 2"):
        losses.dice_ce(np.zeros((1, 2, 2)), np.zeros((1, 2, 2, 1), "float32"))
