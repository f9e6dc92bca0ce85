"""The DRIVE reader on small files of its layout: palette GIFs, field of view, patches."""

import os

import numpy as np
import pytest
from data_layouts import disc, save_palette_gif, write_drive

from keras_seg import data
from keras_seg.errors import UserError

H, W = 44, 40
FOV = disc(H, W, H / 2, W / 2, min(H, W) / 2 - 2)


def test_native_size_field_of_view_weights_and_palette_labels(tmp_path):
    root = write_drive(tmp_path)
    d = data.load("drive", root, image_size=16)
    assert d.images.shape == (3, H, W, 3) and d.patch_size == 16
    assert d.volumes == ["21_training", "22_training", "23_training"]
    np.testing.assert_array_equal(d.weights[..., 0], np.broadcast_to(FOV, (3, H, W)))
    vessels = np.zeros((H, W), np.uint8)
    vessels[H // 2 - 2: H // 2 + 2, 4:-4] = 1
    np.testing.assert_array_equal(d.masks[..., 0], np.broadcast_to(vessels * FOV, (3, H, W)))
    # z-scored inside the field of view, 0 outside.
    inside = d.images[0][FOV > 0]
    np.testing.assert_allclose(inside.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(inside.std(0), 1.0, atol=1e-4)
    assert not d.images[0][FOV == 0].any()


def test_resize_fit_and_test_subset_with_second_manual(tmp_path):
    root = write_drive(tmp_path, subset="test", numbers=(1, 2))
    for n in (1, 2):  # palette index 3 marks the vessels in 2nd_manual
        save_palette_gif(root / "test" / "2nd_manual" / f"{n:02d}_manual2.gif",
                         disc(H, W, 10, 10, 4), index=3)
    d = data.load("drive", root, image_size=16, subset="test", manual="2nd_manual",
                  fit="resize")
    assert d.images.shape == (2, 16, 16, 3) and d.patch_size is None
    assert set(np.unique(d.masks)) == {0, 1} and d.masks[:, 3, 3, 0].all()
    unlabelled = data.load("drive", root, subset="test", manual=None)
    assert unlabelled.masks is None and unlabelled.weights is not None


@pytest.mark.parametrize("damage, message", [
    (lambda r: os.remove(r / "training" / "mask" / "22_training_mask.gif"),
     "22_training.tif has no field-of-view mask"),
    (lambda r: os.remove(r / "training" / "1st_manual" / "23_manual1.gif"),
     "23_training.tif has no vessel label"),
    (lambda r: os.remove(r / "training" / "images" / "21_training.tif"),
     "21_training_mask.gif has no image"),
    (lambda r: (r / "training" / "images" / "training.tif").write_bytes(b""),
     "does not start with its image number"),
])
def test_unpaired_files(tmp_path, damage, message):
    root = write_drive(tmp_path)
    damage(root)
    with pytest.raises(UserError, match=message):
        data.load("drive", root, image_size=16)


def test_missing_label_folder_suggests_unlabelled_reading(tmp_path):
    root = write_drive(tmp_path, subset="test", numbers=(1,))
    with pytest.raises(UserError, match="2nd_manual does not exist.*manual: null"):
        data.load("drive", root, subset="test", manual="2nd_manual")
    with pytest.raises(UserError, match="larger than the images"):
        data.load("drive", root, image_size=64, subset="test")
