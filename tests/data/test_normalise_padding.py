"""Per-volume normalisation and the pad / unpad helpers, against hand-computed values."""

import numpy as np
import pytest

from keras_seg.data.normalise import percentile_rescale, zscore
from keras_seg.data.padding import pad_to_multiple, padded_size, unpad


def test_percentile_rescale_by_hand():
    # 101 values 0..100 in channel 0: p10 = 10, p99 = 99. Channel 1 is constant.
    images = np.stack([np.arange(101.0), np.full(101, 7.0)], -1).reshape(1, 101, 1, 2)
    out = percentile_rescale(images, 10, 99)
    np.testing.assert_allclose(out[0, [0, 10, 20, 99, 100], 0, 0],
                               [0.0, 0.0, 10 / 89, 1.0, 1.0], rtol=1e-6)
    assert not out[..., 1].any()


def test_zscore_by_hand_and_inside_a_region():
    images = np.array([1.0, 3.0, 5.0, 7.0]).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(zscore(images).ravel(), np.array([-3, -1, 1, 3]) / np.sqrt(5))
    where = np.array([1, 1, 0, 0]).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(zscore(images, where).ravel(), [-1.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("size, multiple, expected", [(584, 32, 608), (565, 32, 576),
                                                      (64, 32, 64), (1, 16, 16)])
def test_padded_size(size, multiple, expected):
    assert padded_size(size, multiple) == expected


def test_pad_then_unpad_round_trip_and_valid_region():
    images = np.arange(2 * 5 * 3 * 1, dtype=np.float32).reshape(2, 5, 3, 1) + 1
    padded, valid = pad_to_multiple(images, 4)
    assert padded.shape == (2, 8, 4, 1) and valid.shape == (2, 8, 4, 1)
    assert valid.sum() == 2 * 5 * 3 and valid[:, :5, :3].all()
    assert not padded[:, 5:].any() and not padded[:, :, 3:].any()
    np.testing.assert_array_equal(unpad(padded, 5, 3), images)
