"""The built-in synthetic data set: deterministic, and the LGG-like statistics it promises."""

import numpy as np
import pytest

from keras_seg.data import synthetic


@pytest.fixture(scope="module")
def data():
    return synthetic.generate(num_volumes=12, slices_per_volume=8, image_size=96, seed=3)


def test_same_seed_same_bytes_other_seed_differs(data):
    again = synthetic.generate(num_volumes=12, slices_per_volume=8, image_size=96, seed=3)
    other = synthetic.generate(num_volumes=12, slices_per_volume=8, image_size=96, seed=4)
    assert np.array_equal(data.images, again.images) and np.array_equal(data.masks, again.masks)
    assert not np.array_equal(data.masks, other.masks)


def test_shapes_types_and_volume_grouping(data):
    assert data.images.shape == (96, 96, 96, 3) and data.images.dtype == np.float32
    assert data.masks.shape == (96, 96, 96, 1) and data.masks.dtype == np.uint8
    assert set(np.unique(data.masks)) == {0, 1}
    assert len(data.volumes) == 12
    for v in data.volumes:
        assert data.slice_index[data.volume_ids == v].tolist() == list(range(1, 9))


def test_small_targets_and_a_real_share_of_empty_slices(data):
    fg = data.masks.mean()
    assert 0.003 < fg < 0.05, fg  # small, imbalanced foreground (LGG: ~1 %)
    empty = data.masks.reshape(len(data), -1).max(1) == 0
    assert 0.15 < empty.mean() < 0.7, empty.mean()
    for v in data.volumes:  # every volume holds a lesion, as every LGG patient does
        assert data.masks[data.volume_ids == v].any()


def test_lesions_continue_across_neighbouring_slices(data):
    has = data.masks.reshape(12, 8, -1).max(2) > 0
    for vol in has:
        for z in np.flatnonzero(vol):
            neighbours = vol[max(z - 1, 0):z + 2]
            assert neighbours.sum() >= 2, "a lesion slice without a lesion neighbour"


def test_normalised_per_volume_and_channel(data):
    per_volume = data.images.reshape(12, -1, 3)
    np.testing.assert_allclose(per_volume.mean(1), 0.0, atol=1e-3)
    np.testing.assert_allclose(per_volume.std(1), 1.0, atol=1e-3)


def test_no_intensity_threshold_solves_it(data):
    """The best global threshold on any channel stays far from the trained U-Net's ~0.9."""
    truth = data.masks[..., 0].astype(bool)
    best = 0.0
    for c in range(3):
        x = data.images[..., c]
        for t in np.quantile(x, np.linspace(0.90, 0.999, 40)):
            p = x > t
            best = max(best, 2 * (p & truth).sum() / (p.sum() + truth.sum()))
    assert best < 0.6, best
