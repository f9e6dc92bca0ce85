"""Augmentation: settings, and image and mask moved identically (a synthetic shape)."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import tensorflow as tf

from keras_seg.data import SliceSet, augment
from keras_seg.data.pipeline import make_dataset
from keras_seg.errors import UserError

NO_INTENSITY = {"brightness": 0.0, "contrast": 0.0}
NEW = ("missing_sequence", "noise", "blur", "multiplicative_brightness", "low_resolution",
       "inverted_gamma", "gamma")


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
                                "elastic": False, **{k: 0.0 for k in NEW},
                                "missing_sequence_source": None}
    off = augment.settings(False)
    assert not augment.is_geometric(off) and off["brightness"] == off["contrast"] == 0
    mine = augment.settings({"rotation": 30, "elastic": True})
    assert mine["rotation"] == 30.0 and mine["flip"] is True
    assert mine["elastic"] == augment.ELASTIC_DEFAULTS
    assert augment.settings({"elastic": {"magnitude": 2}})["elastic"]["spacing"] == 32
    assert all(off[k] == 0.0 for k in NEW) and off["missing_sequence_source"] is None
    mine = augment.settings({"noise": 1, "gamma": False, "missing_sequence_source": 1})
    assert (mine["noise"], mine["gamma"], mine["missing_sequence_source"]) == (1.0, 0.0, 1)


@pytest.mark.parametrize("cfg, message", [
    ({"rotate": 10}, "unknown augmentation 'rotate'"),
    ({"flip": "yes"}, "flip must be true or false"),
    ({"scale": 1.5}, "scale must be a number"),
    ({"rotation": -5}, "rotation must be a number"),
    ({"elastic": {"sigma": 3}}, "unknown elastic setting 'sigma'"),
    ("strong", "must be true, false or a mapping"),
    ({"noise": 1.5}, r"data.augment.noise must be a probability in \[0, 1\] or false, got 1.5"),
    ({"blur": -0.1}, r"data.augment.blur must be a probability in \[0, 1\]"),
    ({"gamma": True}, "data.augment.gamma must be a probability"),
    ({"inverted_gamma": float("nan")}, "data.augment.inverted_gamma must be a probability"),
    ({"low_resolution": "0.2"}, "data.augment.low_resolution must be a probability"),
    ({"multiplicative_brightness": [0.75, 1.25]},
     "data.augment.multiplicative_brightness must be a probability"),
    ({"missing_sequence": 2}, "data.augment.missing_sequence must be a probability"),
    ({"missing_sequence_source": -1},
     r"data.augment.missing_sequence_source must be a channel index \(an integer >= 0\) or null"),
    ({"missing_sequence_source": "flair"}, "data.augment.missing_sequence_source must be"),
    ({"missing_sequence_source": 1.0}, "data.augment.missing_sequence_source must be"),
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


# The image-only augmentations (issue #21). Called directly on a batch unless the pipeline is
# the point; ``_only(key)`` turns everything off but ``key``.

def _only(key, p=1.0, **extra):
    return {**augment.settings(False), key: p, **extra}


def _intensity(images, cfg, seed=0):
    return augment.adjust_intensity(tf.constant(images, tf.float32),
                                    tf.constant([seed, 1], tf.int64), cfg).numpy()


def _noise(n, height=16, channels=3, width=None, seed=0):
    shape = (n, height, width or height, channels)
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("key", NEW)
def test_new_augmentations_follow_the_seed(key):
    x = _noise(16)
    a, b, c = (_intensity(x, _only(key), seed) for seed in (4, 4, 5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, x)


@pytest.mark.parametrize("key", NEW)
def test_new_augmentations_leave_masks_and_weights_alone(key):
    n = 12
    images = _noise(n, 16, 2)
    masks = (images[..., :1] > 0.5).astype(np.uint8)
    weights = np.random.default_rng(1).random((n, 16, 16, 1)).astype(np.float32)
    data = SliceSet(images, masks, np.arange(n).astype(str), np.ones(n), weights=weights)
    off, on = ([[t.numpy() for t in b] for b in
                make_dataset(data, 4, training=True, seed=2, augment=cfg)]
               for cfg in (False, _only(key)))
    for (_, y0, w0), (_, y1, w1) in zip(off, on, strict=True):
        np.testing.assert_array_equal(y1, y0)
        np.testing.assert_array_equal(w1, w0)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(off, on, strict=True))


@pytest.mark.parametrize("key, per_channel", [
    ("missing_sequence", None), ("noise", 1.0), ("multiplicative_brightness", 1.0),
    ("gamma", 1.0), ("inverted_gamma", 1.0), ("blur", 0.5),
    ("low_resolution", 0.5 * (1 - 0.5 / 32 / 0.5)),  # scale >= 31.5 / 32 keeps the 32 pixels
])
def test_share_of_slices_and_channels_changed_is_p(key, per_channel):
    n, p, channels = 1000, 0.4, 2
    x = _noise(n, 32, channels)
    changed = (_intensity(x, _only(key, p), seed=3) != x).any(axis=(1, 2))
    # 1000 slices: sd of the share 0.016 at most
    if per_channel is None:  # a missing sequence changes 1 of 2 channels
        assert abs(changed.any(1).mean() - p) < 0.06 and changed.sum(1).max() == 1
        return
    assert abs(changed.any(1).mean() - p * (1 - (1 - per_channel) ** channels)) < 0.06
    assert abs(changed.mean() - p * per_channel) < 0.06


def test_missing_sequence_rate_source_and_exact_copies():
    n, p = 2000, 0.3
    x = _noise(n, 4, 3)  # the channels differ in every pixel
    y = _intensity(x, _only("missing_sequence", p), seed=7)
    changed = (y != x).any(axis=(1, 2))
    hit = changed.any(axis=1)
    assert abs(hit.mean() - p) < 0.04  # 2000 slices with p = 0.3: sd 0.010
    sources = []
    for xi, yi, ch in zip(x[hit], y[hit], changed[hit], strict=True):
        np.testing.assert_array_equal(yi[..., ~ch], xi[..., ~ch])
        source = [s for s in np.flatnonzero(~ch)
                  if all(np.array_equal(yi[..., c], xi[..., s]) for c in np.flatnonzero(ch))]
        assert len(source) == 1  # every copy is exactly the one source channel
        sources.append(source[0])
    # ~600 slices: the source is uniform; the copies a uniform non-empty subset of the other
    # two channels ({a}, {b}, {a, b}), so both are replaced a third of the time (sd 0.019).
    np.testing.assert_allclose(np.bincount(sources, minlength=3) / hit.sum(), 1 / 3, atol=0.08)
    assert abs((changed[hit].sum(1) == 2).mean() - 1 / 3) < 0.08


def test_missing_sequence_from_a_fixed_source():
    """As LGG (pre-contrast, FLAIR, post-contrast), whose missing sequences are FLAIR copies."""
    x = _noise(2000, 4, 4)
    y = _intensity(x, _only("missing_sequence", missing_sequence_source=1))
    changed = (y != x).any(axis=(1, 2))
    assert changed.any(1).all() and not changed[:, 1].any()
    for xi, yi, ch in zip(x, y, changed, strict=True):
        for c in np.flatnonzero(ch):
            np.testing.assert_array_equal(yi[..., c], xi[..., 1])
    # Of the 7 non-empty subsets of the other 3 channels, 4 hold a given channel (sd 0.011).
    np.testing.assert_allclose(changed[:, [0, 2, 3]].mean(0), 4 / 7, atol=0.045)
    one = _noise(10, 4, 1)
    np.testing.assert_array_equal(_intensity(one, _only("missing_sequence")), one)


def test_missing_sequence_source_must_be_a_channel_of_the_images():
    with pytest.raises(UserError, match=r"data.augment.missing_sequence_source is 2, but the "
                                        r"images have 2 channel\(s\): valid indices are 0 to 1"):
        make_dataset(_shapes(), 4, training=True,
                     augment={"missing_sequence": 0.5, "missing_sequence_source": 2})


def test_noise_std_is_uniform_up_to_a_tenth_one_per_slice():
    """nnU-Net's noise "variance" range (0, 0.1) is the standard deviation it uses: so here."""
    x = np.zeros((300, 64, 64, 2), np.float32)
    y = _intensity(x, _only("noise"))
    std = y.std(axis=(1, 2))  # 4096 pixels each: relative sd 1.1 %
    assert std.max() <= 0.1 * 1.05
    np.testing.assert_allclose(std[:, 0], std[:, 1], rtol=0.06, atol=2e-4)
    # Uniform in [0, 0.1]: mean 0.05 (sd 0.0017), the whole range reached.
    assert abs(std.mean() - 0.05) < 0.006 and std.min() < 0.005 and std.max() > 0.095
    assert abs(np.corrcoef(y[..., 0].ravel(), y[..., 1].ravel())[0, 1]) < 0.01


def test_blur_matches_scipy_and_sigma_zero_keeps_the_channel():
    x = _noise(2, 20, 2, width=17)
    sigmas = np.array([[[0.8, 0.6], [0.0, 0.0]], [[1.0, 1.0], [0.5, 0.9]]], np.float32)
    got = augment.gaussian_blur(tf.constant(x), tf.constant(sigmas)).numpy()
    np.testing.assert_array_equal(got[0, ..., 1], x[0, ..., 1])
    for b, c in ((0, 0), (1, 0), (1, 1)):
        plane = x[b, ..., c].astype(np.float64)
        whole = ndi.gaussian_filter(plane, sigmas[b, c], mode="reflect",
                                    radius=augment.BLUR_RADIUS)
        np.testing.assert_allclose(got[b, ..., c], whole, atol=1e-5)
        inner = ndi.gaussian_filter(plane, sigmas[b, c])[4:-4, 4:-4]  # scipy's own kernel
        np.testing.assert_allclose(got[b, 4:-4, 4:-4, c], inner, atol=1e-4)


def _kernel_power(sigma):
    """Sum of the squared 1-D kernel weights: the variance left of unit white noise."""
    w = np.exp(-0.5 * (np.arange(-4, 5) / sigma) ** 2)
    return ((w / w.sum()) ** 2).sum()


def test_random_blur_sigmas_lie_in_half_to_one_pixel():
    x = _noise(200, 48, 2)
    y = _intensity(x, _only("blur"))
    var = y[:, 4:-4, 4:-4].var(axis=(1, 2))
    blurred = (y != x).any(axis=(1, 2))
    # White noise blurred by sigmas in [0.5, 1] keeps between 0.08 and 0.41 of its variance
    # (1600 correlated pixels: a margin of 20 %).
    low, high = _kernel_power(1.0) ** 2, _kernel_power(0.5) ** 2
    assert (var[blurred] > 0.8 * low).all() and (var[blurred] < 1.2 * high).all()
    assert var[blurred].min() < 1.5 * low and var[blurred].max() > 0.75 * high


def test_low_resolution_by_hand():
    """Scale 0.5 of a ramp 0, 10, 20, 30: nearest keeps 10 and 30, bilinear fills between."""
    x = np.broadcast_to(np.array([0.0, 10, 20, 30], np.float32), (1, 4, 4)).copy()[..., None]
    got = augment.low_resolution(tf.constant(x), tf.constant([[0.5]])).numpy()
    np.testing.assert_allclose(got[0, :, :, 0], [[10, 15, 25, 30]] * 4, atol=1e-5)


@pytest.mark.parametrize("scale", [0.5, 0.6, 0.75, 0.9, 1.0])
def test_low_resolution_is_tf_nearest_down_then_bilinear_up(scale):
    x = _noise(2, 40, 2, width=28)
    got = augment.low_resolution(tf.constant(x), tf.constant([[scale, 1.0]] * 2)).numpy()
    size = (round(40 * scale), round(28 * scale))
    ref = tf.image.resize(tf.image.resize(x[..., :1], size, "nearest"), (40, 28), "bilinear")
    assert got.shape == x.shape
    np.testing.assert_allclose(got[..., :1], ref.numpy(), atol=1e-4)
    np.testing.assert_array_equal(got[..., 1], x[..., 1])


def test_random_low_resolution_keeps_the_shape_and_draws_half_to_whole_size():
    x = _noise(30, 24, 2)
    y = _intensity(x, _only("low_resolution"))
    assert y.shape == x.shape
    sides = np.full((30, 2), 24)  # the low-resolution side that reproduces each channel
    for m in range(8, 24):
        ref = tf.image.resize(tf.image.resize(x, (m, m), "nearest"), (24, 24), "bilinear")
        sides[np.abs(ref.numpy() - y).max(axis=(1, 2)) < 1e-4] = m
    unchanged = (y == x).all(axis=(1, 2))
    assert (unchanged == (sides == 24)).all()  # every changed channel is one such resampling
    assert sides.min() >= 12 and sides[~unchanged].size > 10


def _gamma_reference(x, g):
    low, span = x.min(), np.ptp(x)
    y = ((x - low) / span) ** g * span + low
    return (y - y.mean()) * (x.std() / y.std()) + x.mean()


def test_gamma_matches_the_formula_and_keeps_mean_and_std():
    ramp = np.linspace(-1.5, 2.5, 32 * 32).reshape(32, 32)
    x = np.stack([ramp, np.sin(ramp * 3)], axis=-1)[None].astype(np.float32)
    for invert in (False, True):
        got = augment.gamma(tf.constant(x), tf.constant([[2.0, 0.5]]), invert).numpy()[0]
        for c, g in ((0, 2.0), (1, 0.5)):
            plane = x[0, ..., c].astype(np.float64)
            ref = -_gamma_reference(-plane, g) if invert else _gamma_reference(plane, g)
            np.testing.assert_allclose(got[..., c], ref, atol=1e-5)
            np.testing.assert_allclose([got[..., c].mean(), got[..., c].std()],
                                       [plane.mean(), plane.std()], atol=1e-5)


def test_random_gamma_lies_in_range_about_one_and_keeps_the_order():
    ramp = np.linspace(-1.5, 2.5, 32 * 32, dtype=np.float32).reshape(32, 32)
    x = np.broadcast_to(ramp[None, :, :, None], (300, 32, 32, 2)).copy()
    y = _intensity(x, _only("gamma"))
    r = ((ramp - ramp.min()) / np.ptp(ramp)).ravel()
    gammas = []
    for plane in y.transpose(0, 3, 1, 2).reshape(-1, 32 * 32):
        assert (np.diff(plane) > 0).all()
        np.testing.assert_allclose([plane.mean(), plane.std()], [ramp.mean(), ramp.std()],
                                   atol=1e-4)
        q = (plane - plane.min()) / np.ptp(plane)  # = r ** gamma
        g = np.log(q[511]) / np.log(r[511])
        np.testing.assert_allclose(q, r ** g, atol=1e-4)
        gammas.append(g)
    gammas = np.array(gammas)
    assert gammas.min() > 0.7 - 1e-3 and gammas.max() < 1.5 + 1e-3
    assert gammas.min() < 0.72 and gammas.max() > 1.48
    # nnU-Net's draw: below 1 half the time (600 channels, sd 0.02), uniform on each side
    assert abs((gammas < 1).mean() - 0.5) < 0.08
    assert abs(np.median(gammas[gammas < 1]) - 0.85) < 0.03


def test_multiplicative_brightness_is_one_factor_per_channel_in_range():
    x = np.random.default_rng(0).uniform(1, 2, (400, 8, 8, 3)).astype(np.float32)
    factor = (_intensity(x, _only("multiplicative_brightness")) / x).reshape(400, -1, 3)
    np.testing.assert_allclose(factor, np.broadcast_to(factor[:, :1], factor.shape), rtol=1e-5)
    f = factor[:, 0]
    assert f.min() >= 0.75 - 1e-6 and f.max() <= 1.25 + 1e-6
    assert f.min() < 0.76 and f.max() > 1.24 and abs((f < 1).mean() - 0.5) < 0.06
    assert not np.allclose(f[:, 0], f[:, 1])


def test_brightness_and_contrast_keep_their_random_stream():
    """The new keys draw from seeds of their own: contrast and brightness are as before."""
    x = _noise(6, 8, 2)
    seed = tf.constant([5, 9], tf.int64)
    got = augment.adjust_intensity(tf.constant(x), seed, {**augment.settings(False),
                                                          "brightness": 0.3, "contrast": 0.4})
    s = tf.random.experimental.stateless_split(seed, 2)
    factor = tf.random.stateless_uniform([6, 1, 1, 1], s[0], 0.6, 1.4).numpy()
    offset = tf.random.stateless_uniform([6, 1, 1, 1], s[1], -0.3, 0.3).numpy()
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(got.numpy(), (x - mean) * factor + mean + offset, atol=1e-5)
