"""Sliding-window inference: the Gaussian weights, the tile grid, and agreement with whole-image
prediction for a translation-equivariant model."""

import math

import numpy as np
import pytest

from keras_seg.inference import Ensemble, InferenceOptions
from keras_seg.inference.sliding_window import (
    gaussian_importance,
    sliding_window_predict,
    tile_starts,
)


def test_gaussian_importance_has_sigma_an_eighth_of_the_tile():
    w = gaussian_importance(32)                     # sigma 4
    assert w.shape == (32, 32) and w.max() == 1.0 and w[16, 16] == 1.0
    assert w[16, 20] == pytest.approx(math.exp(-0.5), rel=1e-5)   # one sigma
    assert w[20, 20] == pytest.approx(math.exp(-1.0), rel=1e-5)   # one sigma on both axes
    assert w.min() > 0
    np.testing.assert_allclose(w[16, 12:21], w[12:21, 16])        # isotropic


def test_tiles_spread_evenly_from_edge_to_edge():
    # step at most 16: ceil((100 - 32) / 16) + 1 = 6 tiles, starts round(i * 68 / 5)
    assert tile_starts(100, 32, 0.5) == [0, 14, 27, 41, 54, 68]
    assert tile_starts(64, 32, 0.5) == [0, 16, 32]
    assert tile_starts(64, 32, 0.0) == [0, 32]
    assert tile_starts(20, 32, 0.5) == [0]


def test_sliding_window_equals_the_whole_image_for_a_pixelwise_model(pixel_predictor):
    images = np.random.default_rng(0).standard_normal((3, 40, 57, 3)).astype(np.float32)
    whole = Ensemble([pixel_predictor], InferenceOptions(window="whole"))(images)
    sliding = Ensemble([pixel_predictor], InferenceOptions(window="sliding", tile=16,
                                                           overlap=0.5))(images)
    assert sliding.shape == whole.shape == (3, 40, 57, 1)
    np.testing.assert_allclose(sliding, whole, atol=1e-6)


def test_images_smaller_than_a_tile_are_padded_and_cropped_back(pixel_predictor):
    images = np.random.default_rng(1).standard_normal((2, 10, 13, 3)).astype(np.float32)
    out = sliding_window_predict(pixel_predictor.predict_batch, images, tile=16)
    whole = pixel_predictor.predict_batch(images)
    np.testing.assert_allclose(out, whole, atol=1e-6)


def test_tiles_are_batched_and_the_batch_bounds_the_network_input(unet_predictor):
    unet_predictor.calls.clear()
    images = np.random.default_rng(2).standard_normal((2, 48, 48, 3)).astype(np.float32)
    out = sliding_window_predict(unet_predictor.predict_batch, images, tile=16, overlap=0.5,
                                 batch_size=4)
    # 5 x 5 tiles per image (starts 0, 8, 16, 24, 32), 50 tiles in batches of at most 4
    assert [shape[0] for shape in unet_predictor.calls] == [4] * 12 + [2]
    assert {shape[1:3] for shape in unet_predictor.calls} == {(16, 16)}
    assert out.shape == (2, 48, 48, 1) and np.isfinite(out).all()


def test_the_overlap_blends_tiles_for_a_model_that_is_not_shift_equivariant(unet_predictor):
    """Where only one tile covers a pixel, the result is that tile's prediction; where tiles
    overlap, it is their weighted mean, which differs from either tile."""
    images = np.random.default_rng(3).standard_normal((1, 16, 24, 3)).astype(np.float32)
    out = sliding_window_predict(unet_predictor.predict_batch, images, tile=16, overlap=0.5)
    left = unet_predictor.predict_batch(images[:, :, :16])       # tile starts 0 and 8
    right = unet_predictor.predict_batch(images[:, :, 8:])
    np.testing.assert_allclose(out[:, :, :8], left[:, :, :8], atol=1e-6)
    np.testing.assert_allclose(out[:, :, 16:], right[:, :, 8:], atol=1e-6)
    w = gaussian_importance(16)[None, :, :, None]
    blend = (left[:, :, 8:] * w[:, :, 8:] + right[:, :, :8] * w[:, :, :8]) / (
        w[:, :, 8:] + w[:, :, :8])
    np.testing.assert_allclose(out[:, :, 8:16], blend, atol=1e-6)


def test_auto_slides_only_over_images_larger_than_the_tile(pixel_predictor):
    auto = Ensemble([pixel_predictor], InferenceOptions(tile=64))
    assert not auto.sliding(64, 64) and auto.sliding(64, 65) and auto.sliding(80, 10)
    assert not Ensemble([pixel_predictor], InferenceOptions()).sliding(999, 999)  # no tile
    assert Ensemble([pixel_predictor], InferenceOptions("sliding", tile=64)).sliding(8, 8)
    assert not Ensemble([pixel_predictor], InferenceOptions("whole", tile=64)).sliding(99, 99)


@pytest.mark.parametrize("kwargs, message", [
    ({"window": "tiles"}, "unknown window 'tiles'"),
    ({"overlap": 1.0}, "overlap must be in"),
    ({"window": "sliding"}, "needs a tile size"),
    ({"tta": "rotate"}, "unknown tta 'rotate'"),
])
def test_bad_options_are_user_errors(kwargs, message):
    from keras_seg.errors import UserError

    with pytest.raises(UserError, match=message):
        InferenceOptions(**kwargs)


def test_a_tile_that_is_not_a_multiple_of_the_stride_is_refused(unet_predictor):
    from keras_seg.errors import UserError

    with pytest.raises(UserError, match="tile 18 is not a multiple of model 1's stride 4"):
        Ensemble([unet_predictor], InferenceOptions(tile=18))
