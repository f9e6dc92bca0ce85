"""Per-pixel sample weights (DRIVE's field of view) ignore pixels in every binary loss."""

import keras
import numpy as np
import pytest

from keras_seg import losses

BINARY = [n for n in losses.NAMES if n != "dice_ce"]


def _case():
    rng = np.random.default_rng(0)
    y = (rng.random((2, 16, 16, 1)) > 0.6).astype("float32")
    p = rng.uniform(0.05, 0.95, (2, 16, 16, 1)).astype("float32")
    w = np.ones_like(y)
    w[:, :, 8:] = 0.0  # the right half is outside the field of view
    return y, p, w


@pytest.mark.parametrize("name", BINARY)
def test_ignored_pixels_change_nothing(name):
    y, p, w = _case()
    loss = losses.get(name)
    base = float(loss(y, p, sample_weight=w))
    other_p, other_y = p.copy(), y.copy()
    other_p[:, :, 8:] = 1.0 - other_p[:, :, 8:]
    other_y[:, :, 8:] = 1.0 - other_y[:, :, 8:]
    assert float(loss(other_y, other_p, sample_weight=w)) == pytest.approx(base, rel=1e-5,
                                                                          abs=1e-6)
    assert np.isfinite(base)


def test_dice_with_ignore_mask_equals_dice_of_the_valid_region():
    y, p, w = _case()
    expected = float(keras.ops.mean(losses.dice(y[:, :, :8], p[:, :, :8])))
    assert float(losses.get("dice")(y, p, sample_weight=w)) == pytest.approx(expected, rel=1e-5)


def test_logits_ignored_pixels():
    y, p, w = _case()
    logits = np.log(p / (1 - p))
    probs_loss = float(losses.get("bce_dice")(y, p, sample_weight=w))
    logit_loss = float(losses.get("bce_dice", from_logits=True)(y, logits, sample_weight=w))
    assert logit_loss == pytest.approx(probs_loss, rel=1e-4)


def test_per_image_weights_still_weigh_images():
    y, p, _ = _case()
    per_image = losses.dice(y, p).numpy()
    weighted = float(losses.get("dice")(y, p, sample_weight=np.array([1.0, 0.0])))
    assert weighted == pytest.approx(per_image[0] / 2, rel=1e-5)
