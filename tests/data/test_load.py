"""`keras_seg.data.load` / `records`: names, options, the synthetic set."""

import numpy as np
import pytest
from data_layouts import write_isbi

from keras_seg import data
from keras_seg.data import synthetic
from keras_seg.errors import UserError


def test_names():
    assert data.DATA_NAMES == ("synthetic", "lgg", "isbi", "drive", "folder", "nifti")
    with pytest.raises(UserError, match="unknown data set 'mnist'; valid names: synthetic"):
        data.load("mnist", "x")


def test_unknown_option_lists_the_valid_ones(tmp_path):
    write_isbi(tmp_path, train=2, test=0)
    with pytest.raises(UserError, match="'lgg' has no option 'foreground'; valid options: "
                                        "crop_to_brain, fit"):
        data.load("lgg", tmp_path, foreground="cell")
    with pytest.raises(UserError, match="has no option 'crop_to_brain'"):
        data.records("isbi", tmp_path, crop_to_brain=True)
    with pytest.raises(UserError, match="unknown fit 'stretch'"):
        data.load("isbi", tmp_path, fit="stretch")


def test_synthetic_through_load():
    d = data.load("synthetic", image_size=32, seed=2, num_volumes=3, slices_per_volume=4)
    ref = synthetic.generate(3, 4, 32, seed=2)
    np.testing.assert_array_equal(d.images, ref.images)
    assert data.load("synthetic").images.shape[1] == 128  # the default size
    with pytest.raises(UserError, match="reads no folder"):
        data.load("synthetic", "some/dir")
    with pytest.raises(UserError, match="no files"):
        data.records("synthetic", None)


def test_concatenate_fills_one_array_and_releases_the_parts():
    from keras_seg.data.plan import concatenate
    from keras_seg.data.sliceset import SliceSet

    rng = np.random.default_rng(0)
    grey = rng.standard_normal((2, 4, 5, 1)).astype(np.float32)
    rgb = rng.standard_normal((3, 4, 5, 3)).astype(np.float32)
    masks = [np.zeros((2, 4, 5, 1), np.uint8), np.ones((3, 4, 5, 1), np.uint8)]
    parts = [SliceSet(grey, masks[0], ["a", "a"], [1, 2]),
             SliceSet(rgb, masks[1], ["b"] * 3, [1, 2, 3])]
    joined = concatenate(parts)
    assert joined.images.dtype == np.float32 and joined.images.shape == (5, 4, 5, 3)
    # the grey volume's one channel is repeated, as np.repeat would
    np.testing.assert_array_equal(joined.images, np.concatenate([np.repeat(grey, 3, -1), rgb]))
    np.testing.assert_array_equal(joined.masks[:, 0, 0, 0], [0, 0, 1, 1, 1])
    assert joined.volume_ids.tolist() == ["a", "a", "b", "b", "b"]
    assert joined.names.tolist() == ["a_1", "a_2", "b_1", "b_2", "b_3"]
    assert parts == [None, None]  # nothing of the parts is held once copied


def test_concatenate_names_a_channel_mismatch():
    from keras_seg.data.plan import concatenate
    from keras_seg.data.sliceset import SliceSet

    parts = [SliceSet(np.zeros((1, 2, 2, 2), np.float32), None, ["a"], [1]),
             SliceSet(np.zeros((1, 2, 2, 3), np.float32), None, ["b"], [1])]
    with pytest.raises(UserError, match="2 channels where 3 are needed"):
        concatenate(parts)


def test_subset_and_concatenate_allocate_aligned_pixels():
    from keras_seg.data.plan import concatenate
    from keras_seg.data.sliceset import ALIGNMENT, SliceSet

    rng = np.random.default_rng(1)
    images = rng.standard_normal((7, 3, 5, 2)).astype(np.float32)
    masks = (rng.random((7, 3, 5, 1)) < 0.5).astype(np.uint8)
    whole = SliceSet(images, masks, list("aabbbcc"), [1, 2, 1, 2, 3, 1, 2])
    for index in (np.array([5, 0, -1, 3]), whole.volume_ids == "b"):
        part = whole.subset(index)
        np.testing.assert_array_equal(part.images, images[index])  # as fancy indexing
        np.testing.assert_array_equal(part.masks, masks[index])
        assert part.images.ctypes.data % ALIGNMENT == 0 and part.images.flags.c_contiguous
    with pytest.raises(IndexError):
        whole.subset(np.array([7]))
    joined = concatenate([whole.subset(np.array([0, 1])), whole.subset(np.array([2]))])
    assert joined.images.ctypes.data % ALIGNMENT == 0


def test_the_pipeline_shares_aligned_pixels_with_tensorflow():
    from keras_seg.data.pipeline import host_tensor
    from keras_seg.data.sliceset import aligned_empty

    shared = aligned_empty((4, 8, 8, 3), np.float32)
    shared[:] = 1.0
    tensor = host_tensor(shared)
    shared[0, 0, 0, 0] = 7.0  # a write to the array shows in the tensor: one buffer, no copy
    assert float(tensor[0, 0, 0, 0]) == 7.0
    unaligned = np.ones((4, 8, 8, 3), np.float32)[:, ::2]  # not contiguous: copied
    copied = host_tensor(unaligned)
    unaligned[0, 0, 0, 0] = 7.0
    assert float(copied[0, 0, 0, 0]) == 1.0
    np.testing.assert_array_equal(np.asarray(host_tensor(np.zeros((0, 2), np.uint8))).shape,
                                  (0, 2))
