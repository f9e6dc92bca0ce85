"""The folder reader: stems, formats, volume sub-folders, channels, unlabelled images."""

import numpy as np
import pytest
import tifffile
from data_layouts import disc, rgb, save_palette_gif, save_png
from PIL import Image

from keras_seg import data
from keras_seg.errors import UserError


def test_each_format_and_each_image_its_own_volume(tmp_path):
    m = disc(12, 12, 6, 6, 3)
    save_png(tmp_path / "images" / "a.png", rgb(12, 12, 1))
    save_png(tmp_path / "masks" / "a.png", m * 255)
    tifffile.imwrite(tmp_path / "images" / "b.tif", rgb(12, 12, 2))
    tifffile.imwrite(tmp_path / "masks" / "b_mask.tiff", m)
    Image.fromarray(rgb(12, 12, 3)).save(tmp_path / "images" / "c.jpg")
    save_palette_gif(tmp_path / "masks" / "c.gif", m)
    save_palette_gif(tmp_path / "images" / "d.gif", m)  # a palette image as input
    save_png(tmp_path / "masks" / "d.png", m)
    d = data.load("folder", tmp_path)
    assert d.volumes == ["a", "b", "c", "d"] and d.slice_index.tolist() == [1, 1, 1, 1]
    assert d.images.shape == (4, 12, 12, 3)
    np.testing.assert_array_equal(d.masks[..., 0], np.broadcast_to(m, (4, 12, 12)))


def test_subfolders_are_volumes_in_numeric_order(tmp_path):
    for name, value in (("slice_10", 10), ("slice_2", 2), ("slice_1", 1)):
        save_png(tmp_path / "images" / "p1" / f"{name}.png", np.full((8, 8), value, np.uint8))
        save_png(tmp_path / "masks" / "p1" / f"{name}.png", np.zeros((8, 8), np.uint8))
    save_png(tmp_path / "images" / "lone.png", np.zeros((8, 8), np.uint8))
    save_png(tmp_path / "masks" / "lone.png", np.zeros((8, 8), np.uint8))
    recs = data.records("folder", tmp_path)
    assert [(r.volume_id, r.slice_index) for r in recs] == [
        ("lone", 1), ("p1", 1), ("p1", 2), ("p1", 3)]
    assert [r.image.rsplit("/", 1)[1] for r in recs[1:]] == [
        "slice_1.png", "slice_2.png", "slice_10.png"]
    d = data.load("folder", tmp_path)
    assert d.names.tolist() == ["lone", "p1_slice_1", "p1_slice_2", "p1_slice_10"]
    assert d.images.shape == (4, 8, 8, 1)  # grey stays one channel
    p1 = d.images[1:, 0, 0, 0].tolist()
    assert p1 == sorted(p1) and len(set(p1)) == 3


def test_a_mask_beside_volume_folders_needs_an_image(tmp_path):
    save_png(tmp_path / "images" / "p1" / "1.png", np.zeros((8, 8), np.uint8))
    save_png(tmp_path / "masks" / "p1" / "1.png", np.zeros((8, 8), np.uint8))
    save_png(tmp_path / "masks" / "stray.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(UserError, match=r"mask .*stray\.png has no image"):
        data.load("folder", tmp_path)


def test_grey_and_colour_mixed_become_three_channels_and_resize(tmp_path):
    save_png(tmp_path / "images" / "g.png", np.full((10, 14), 7, np.uint8))
    save_png(tmp_path / "masks" / "g.png", np.ones((10, 14), np.uint8))
    save_png(tmp_path / "images" / "c.png", rgb(20, 20, 0))
    save_png(tmp_path / "masks" / "c.png", np.zeros((20, 20), np.uint8))
    with pytest.raises(UserError, match="set --image-size"):
        data.load("folder", tmp_path)
    d = data.load("folder", tmp_path, image_size=8)
    assert d.images.shape == (2, 8, 8, 3) and d.masks[1].all() and not d.masks[0].any()


def test_without_masks_folder_the_images_are_unlabelled(tmp_path):
    save_png(tmp_path / "images" / "a.png", rgb(8, 8, 0))
    d = data.load("folder", tmp_path)
    assert d.masks is None and len(d) == 1


@pytest.mark.parametrize("make, message", [
    (lambda p: save_png(p / "images" / "b.png", rgb(8, 8, 1)), r"b\.png has no mask"),
    (lambda p: save_png(p / "masks" / "z.png", np.zeros((8, 8), np.uint8)), r"z\.png has no image"),
    (lambda p: (p / "images" / "notes.txt").write_text("x"), r"unexpected file .*notes\.txt"),
    (lambda p: save_png(p / "images" / "v" / "deep" / "x.png", rgb(8, 8, 1)), "nested too deep"),
    (lambda p: (p / "images" / "v").mkdir(), r"volume folder .*v is empty"),
    (lambda p: save_png(p / "masks" / "w" / "x.png", rgb(8, 8, 1)), "has no images folder"),
    (lambda p: save_png(p / "images" / "a.jpg", rgb(8, 8, 1)), "two files with the stem 'a'"),
])
def test_layout_errors(tmp_path, make, message):
    save_png(tmp_path / "images" / "a.png", rgb(8, 8, 0))
    save_png(tmp_path / "masks" / "a.png", np.zeros((8, 8), np.uint8))
    make(tmp_path)
    with pytest.raises(UserError, match=message):
        data.load("folder", tmp_path)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        data.load("folder", tmp_path / "nope")
    with pytest.raises(UserError, match="images folder .*images does not exist"):
        data.load("folder", tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(UserError, match="images folder .*images is empty"):
        data.load("folder", tmp_path)
    with pytest.raises(UserError, match="no data folder given"):
        data.load("folder", None)
