"""Augmentation: settings, and image and mask moved identically (a synthetic shape)."""

import numpy as np
import pytest

from keras_seg.data import SliceSet, augment
from keras_seg.data.pipeline import make_dataset
from keras_seg.errors import UserError

NO_INTENSITY = {"brightness": 0.0, "contrast": 0.0}


def _shapes(n=8, size=64):
    """An L-shaped object (asymmetric, so flips and rotations show) in image and mask."""
    mask = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        top, left = 8 + i, 10 + i
        mask[i, top: top + 20, left: left + 6] = 1
        mask[i, top + 14: top + 20, left: left + 18] = 1
    images = np.concatenate([mask, 1 - mask], -1).astype(np.float32)
    return SliceSet(images, mask, np.arange(n).astype(str), np.ones(n))


def _batches(data, cfg, seed=0, batch=8):
    return [(x.numpy(), y.numpy()) for x, y in
            make_dataset(data, batch, training=True, seed=seed, augment=cfg)]


def _centroid(a):
    return np.argwhere(a > 0.5).mean(0)


def test_settings_defaults_overrides_and_off():
    assert augment.settings(True) == augment.DEFAULTS
    assert augment.DEFAULTS == {"flip": True, "vertical_flip": False, "rotation": 15.0,
                                "scale": 0.05, "brightness": 0.1, "contrast": 0.1,
                                "elastic": False}
    off = augment.settings(False)
    assert not augment.is_geometric(off) and off["brightness"] == off["contrast"] == 0
    mine = augment.settings({"rotation": 30, "elastic": True})
    assert mine["rotation"] == 30.0 and mine["flip"] is True
    assert mine["elastic"] == augment.ELASTIC_DEFAULTS
    assert augment.settings({"elastic": {"magnitude": 2}})["elastic"]["spacing"] == 32


@pytest.mark.parametrize("cfg, message", [
    ({"rotate": 10}, "unknown augmentation 'rotate'"),
    ({"flip": "yes"}, "flip must be true or false"),
    ({"scale": 1.5}, "scale must be a number"),
    ({"rotation": -5}, "rotation must be a number"),
    ({"elastic": {"sigma": 3}}, "unknown elastic setting 'sigma'"),
    ("strong", "must be true, false or a mapping"),
])
def test_bad_settings(cfg, message):
    with pytest.raises(UserError, match=message):
        augment.settings(cfg)


@pytest.mark.parametrize("cfg", [
    {"rotation": 40.0, "scale": 0.2, "vertical_flip": True, **NO_INTENSITY},
    {"rotation": 10.0, "elastic": {"magnitude": 3.0, "spacing": 12}, **NO_INTENSITY},
])
def test_image_and_mask_move_together(cfg):
    data = _shapes()
    moved = 0
    for x, y in _batches(data, cfg):
        for image, mask in zip(x, y, strict=True):
            shape_in_image = image[..., 0] > 0.5
            assert set(np.unique(mask)) <= {0.0, 1.0}
            mismatch = (shape_in_image != (mask[..., 0] > 0.5)).sum()
            assert mismatch <= 0.03 * mask.sum(), mismatch
            np.testing.assert_allclose(_centroid(image[..., 0]), _centroid(mask[..., 0]),
                                       atol=0.5)
            moved += not any(np.array_equal(mask, m) for m in data.masks)
    assert moved >= 6  # the transforms do move things


@pytest.mark.parametrize("elastic", [False, {"magnitude": 0.0}])
def test_flip_is_exact_and_shared(elastic):
    """Also with a zero elastic field: the composed sampling uses the same pixel grid."""
    data = _shapes()
    flipped = 0
    cfg = {"rotation": 0, "scale": 0, "elastic": elastic, **NO_INTENSITY}
    for x, y in _batches(data, cfg, seed=3):
        for image, mask in zip(x, y, strict=True):
            k = next(i for i in range(len(data))
                     if np.array_equal(mask, data.masks[i]) or
                     np.array_equal(mask, data.masks[i][:, ::-1]))
            is_flipped = not np.array_equal(mask, data.masks[k])
            expected = data.images[k][:, ::-1] if is_flipped else data.images[k]
            np.testing.assert_allclose(image, expected, atol=1e-5)
            flipped += is_flipped
    assert 0 < flipped < len(data)


def test_intensity_changes_touch_the_image_only():
    data = _shapes()
    cfg = {**augment.settings(False), "brightness": 0.5, "contrast": 0.5}
    (x, y), = _batches(data, cfg)
    for image, mask in zip(x, y, strict=True):
        k = [i for i in range(len(data)) if np.array_equal(mask, data.masks[i])]
        assert len(k) == 1  # the mask is one of the originals, untouched
        original = data.images[k[0]]
        slope, intercept = np.polyfit(original.ravel(), image.ravel(), 1)
        np.testing.assert_allclose(image, slope * original + intercept, atol=1e-4)
        assert 0.5 <= slope <= 1.5


def test_crop_of_a_patch_is_exact():
    n, size = 4, 32
    images = np.random.default_rng(0).random((n, size, size, 2)).astype(np.float32)
    masks = (images[..., :1] > 0.7).astype(np.uint8)
    data = SliceSet(images, masks, np.arange(n).astype(str), np.ones(n), patch_size=8)
    for x, y in make_dataset(data, 4, training=True, augment=False, patches_per_image=3):
        for patch, patch_mask in zip(x.numpy(), y.numpy(), strict=True):
            hits = [(i, r, c) for i in range(n) for r in range(size - 7)
                    for c in range(size - 7)
                    if np.array_equal(images[i, r:r + 8, c:c + 8], patch)]
            assert len(hits) == 1
            i, r, c = hits[0]
            np.testing.assert_array_equal(patch_mask, masks[i, r:r + 8, c:c + 8])
