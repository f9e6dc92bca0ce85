"""keras_seg.visualize: outlines and overlays checked on hand-made squares."""

import numpy as np
import pytest

from keras_seg.visualize import GREEN, RED, grey, outline, overlay


def square(size, top, left, side):
    mask = np.zeros((size, size), np.uint8)
    mask[top:top + side, left:left + side] = 1
    return mask


def ring(size, top, left, side):
    """The 1-pixel inner border of a square, drawn by hand."""
    border = np.zeros((size, size), bool)
    border[top, left:left + side] = border[top + side - 1, left:left + side] = True
    border[top:top + side, left] = border[top:top + side, left + side - 1] = True
    return border


def colour_mask(rgb, colour):
    return np.all(rgb == np.array(colour, np.uint8), axis=-1)


@pytest.mark.parametrize("side", [1, 2, 4, 6])
def test_outline_of_a_square_is_its_ring(side):
    np.testing.assert_array_equal(outline(square(10, 2, 3, side)), ring(10, 2, 3, side))


def test_outline_closes_along_the_image_edge_and_accepts_a_channel_axis():
    mask = square(6, 0, 0, 3)[..., None]
    np.testing.assert_array_equal(outline(mask), ring(6, 0, 0, 3))
    assert not outline(np.zeros((5, 5), np.uint8)).any()


def test_overlay_draws_truth_green_and_prediction_red():
    image = np.arange(12 * 12, dtype=np.float32).reshape(12, 12, 1) * 3.0 - 7.0
    truth = square(12, 2, 2, 5)[..., None]
    pred = square(12, 4, 5, 6)[..., None] * 0.8 + 0.1  # 0.9 inside, 0.1 outside
    rgb = overlay(image, truth, pred)
    assert rgb.dtype == np.uint8 and rgb.shape == (12, 12, 3)
    red, green = ring(12, 4, 5, 6), ring(12, 2, 2, 5) & ~ring(12, 4, 5, 6)
    np.testing.assert_array_equal(colour_mask(rgb, RED), red)
    np.testing.assert_array_equal(colour_mask(rgb, GREEN), green)
    # Elsewhere the image in grey, min-max scaled to 0..255.
    expected = np.round(np.arange(144).reshape(12, 12) / 143 * 255).astype(np.uint8)
    rest = ~(red | green)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel][rest], expected[rest])


def test_prediction_at_or_below_threshold_draws_nothing():
    image = np.random.default_rng(0).normal(size=(8, 8, 1))
    pred = square(8, 2, 2, 4)[..., None] * 0.5
    assert not colour_mask(overlay(image, None, pred), RED).any()
    assert colour_mask(overlay(image, None, pred, threshold=0.4), RED).sum() == 12


def test_softmax_prediction_outlines_any_foreground_class():
    pred = np.zeros((8, 8, 3), np.float32)
    pred[..., 0] = 1.0
    pred[1:4, 1:4] = [0.1, 0.8, 0.1]
    pred[5:7, 5:7] = [0.2, 0.3, 0.5]
    expected = ring(8, 1, 1, 3) | ring(8, 5, 5, 2)
    np.testing.assert_array_equal(colour_mask(overlay(np.zeros((8, 8)), None, pred), RED),
                                  expected)


def test_grey_shows_the_middle_channel_and_a_constant_image_black():
    image = np.stack([np.full((2, 2), 5.0), [[0.0, 1.0], [2.0, 4.0]], np.zeros((2, 2))], -1)
    np.testing.assert_array_equal(grey(image), [[0, 64], [128, 255]])
    np.testing.assert_array_equal(overlay(np.full((4, 4, 1), 3.0), None, None), 0)


def test_mismatched_mask_shape_is_refused():
    with pytest.raises(ValueError, match="does not match"):
        overlay(np.zeros((8, 8)), np.zeros((6, 6)), None)
