"""Keras' sample_weight contract, means over the valid pixels only, and options refused when a loss
is constructed."""

import keras
import numpy as np
import pytest

from keras_seg import losses

EPS = 1e-7
BINARY = [n for n in losses.NAMES if n != "dice_ce"]


def case(seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((2, 12, 12, 1)) > 0.6).astype("float32")
    p = rng.uniform(0.05, 0.95, y.shape).astype("float32")
    return y, p


@pytest.mark.parametrize(
    "sample_weight",
    [0.5, 2, [1.0, 0.0], [[0.3], [1.5]], np.array([0.25, 1.0], "float32")],
    ids=["float", "int", "list", "nested-list", "array"],
)
def test_sample_weight_as_keras_binary_crossentropy(sample_weight):
    y, p = case()
    reference = keras.losses.BinaryCrossentropy()
    # Keras' own loss returns (B, H, W) values, so it wants per-image weights as (B, 1, 1)
    keras_weight = np.reshape(sample_weight, (-1, 1, 1)) if np.ndim(sample_weight) else (
        sample_weight)
    expected = float(reference(y, p, sample_weight=keras_weight))
    got = float(losses.bce_loss(y, p, sample_weight=sample_weight))
    assert got == pytest.approx(expected, rel=1e-5)
    tensor = keras.ops.convert_to_tensor(np.asarray(sample_weight, "float32"))
    assert float(losses.bce_loss(y, p, sample_weight=tensor)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("sample_weight", [0.5, [1.0, 0.0]], ids=["scalar", "list"])
def test_sample_weight_forms_for_every_loss(name, sample_weight):
    y, p = case(1)
    per_image = np.asarray(getattr(losses, name)(y, p))
    expected = np.mean(per_image * np.broadcast_to(np.asarray(sample_weight), (2,)))
    assert float(losses.get(name)(y, p, sample_weight=sample_weight)) == pytest.approx(
        expected, rel=1e-5)


# ---- masked means: numpy on the valid pixels only ----

def _bce(y, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _focal(y, p, gamma=2.0, alpha=0.25):
    p = np.clip(p, EPS, 1 - EPS)
    p_t = np.where(y > 0, p, 1 - p)
    a_t = 1.0 if alpha is None else np.where(y > 0, alpha, 1 - alpha)
    return -a_t * (1 - p_t) ** gamma * np.log(p_t)


def _dice(y, p, s=1.0):
    return (2 * np.sum(p * y) + s) / (np.sum(p) + np.sum(y) + s)


VALID_ONLY = {  # loss of one image from its valid pixels only (1-D arrays)
    "bce": lambda y, p: _bce(y, p).mean(),
    "focal": lambda y, p: _focal(y, p).mean(),
    "dice": lambda y, p: 1 - _dice(y, p),
    "log_dice": lambda y, p: -np.log(_dice(y, p)),
    "bce_dice": lambda y, p: 0.5 * _bce(y, p).mean() + 0.5 * (1 - _dice(y, p)),
    "bce_logdice": lambda y, p: _bce(y, p).mean() - np.log(_dice(y, p)),
    "focal_dice": lambda y, p: 10 * _focal(y, p, alpha=None).mean() - np.log(_dice(y, p)),
    "soft_iou": lambda y, p: 1 - (np.sum(p * y) + 1) / (np.sum(p) + np.sum(y) - np.sum(p * y) + 1),
    "tversky": lambda y, p: 1 - (np.sum(p * y) + 1) / (
        np.sum(p * y) + 0.3 * np.sum(p * (1 - y)) + 0.7 * np.sum((1 - p) * y) + 1),
}


@pytest.mark.parametrize("name", list(VALID_ONLY))
def test_weight_zero_pixels_are_left_out_of_the_mean(name):
    """Half of each image at weight 0 (outside a field of view): the loss is that of the valid
    half alone, not half of it."""
    y, p = case(2)
    w = np.ones_like(y)
    w[:, :, 6:] = 0.0
    expected = np.mean([VALID_ONLY[name](y[i][w[i] > 0].astype("float64"),
                                         p[i][w[i] > 0].astype("float64")) for i in range(2)])
    assert float(losses.get(name)(y, p, sample_weight=w)) == pytest.approx(expected, rel=1e-4)


def test_bce_of_half_an_image_is_not_halved():
    y, p = case(3)
    w = np.ones_like(y)
    w[:, :6] = 0.0
    whole = float(losses.bce_loss(y[:, 6:], p[:, 6:]))
    assert float(losses.bce_loss(y, p, sample_weight=w)) == pytest.approx(whole, rel=1e-5)
    assert float(losses.bce_dice_loss(y, p, sample_weight=w)) == pytest.approx(
        float(losses.bce_dice_loss(y[:, 6:], p[:, 6:])), rel=1e-5)


def test_weighted_losses_multiply_the_border_map_by_the_pixel_weight():
    y, p = case(4)
    w = np.ones_like(y)
    w[:, :, :3] = 0.0
    border = np.asarray(losses.border_weights(keras.ops.convert_to_tensor(y * w), 3))
    expected = [np.sum((border * w * _bce(y, p))[i]) / np.sum((border * w)[i]) for i in range(2)]
    got = losses.weighted_bce(y, p, window=3, weight=w)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


# ---- options refused at construction ----

@pytest.mark.parametrize(
    ("make", "error", "fragment"),
    [
        (lambda: losses.dice_loss(smooth=-1), ValueError, "smooth"),
        (lambda: losses.focal_loss(gamma="x"), TypeError, "gamma"),
        (lambda: losses.focal_loss(alpha=1.5), ValueError, "alpha"),
        (lambda: losses.bce_logdice_loss(batch="yes"), TypeError, "batch"),
        (lambda: losses.bce_loss(from_logits=1), TypeError, "from_logits"),
        (lambda: losses.bce_dice_loss(bce_weight=2.0), ValueError, "bce_weight"),
        (lambda: losses.weighted_bce_dice_loss(window=4), ValueError, "window"),
        (lambda: losses.weighted_dice_loss(window=2.5), TypeError, "window"),
        (lambda: losses.mixed_loss(alpha=-1), ValueError, "alpha"),
        (lambda: losses.tversky_loss(beta="b"), TypeError, "beta"),
        (lambda: losses.focal_tversky_loss(gamma=0), ValueError, "gamma"),
        (lambda: losses.dice_ce_loss(ignore_index=2.5), TypeError, "ignore_index"),
        (lambda: losses.get("soft_iou", smooth=-0.1), ValueError, "smooth"),
        (lambda: losses.dice_coef(smooth=-1), ValueError, "smooth"),
        (lambda: losses.mean_iou(thresholds=[]), ValueError, "thresholds"),
        (lambda: losses.ThresholdMeanIoU(thresholds=[1.5]), ValueError, "threshold"),
    ],
)
def test_invalid_options_are_refused_at_construction(make, error, fragment):
    with pytest.raises(error, match=fragment) as raised:
        make()
    assert "\n" not in str(raised.value)
