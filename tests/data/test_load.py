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
