"""Bad data is found when the set is loaded, before training, in one line naming the file."""

import re

import numpy as np
import pytest
import tifffile
from data_layouts import disc, rgb, save_palette_gif, save_png
from PIL import Image

from keras_seg import data
from keras_seg.data.decode import read_mask
from keras_seg.errors import UserError

GOOD_MASK = disc(32, 32, 16, 16, 5) * 255


def _truncate(path, keep=0.5):
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


def _png(p):
    _truncate(save_png(p / "images" / "a.png", rgb(32, 32, 0)))
    save_png(p / "masks" / "a.png", GOOD_MASK)


def _tiff(p):
    tifffile.imwrite(p / "images" / "a.tif", rgb(32, 32, 0))
    _truncate(p / "images" / "a.tif")
    save_png(p / "masks" / "a.png", GOOD_MASK)


def _jpeg(p):
    Image.fromarray(rgb(32, 32, 0)).save(p / "images" / "a.jpg")
    _truncate(p / "images" / "a.jpg", 0.3)
    save_png(p / "masks" / "a.png", GOOD_MASK)


def _not_an_image(p):
    (p / "images" / "a.png").write_text("hello")
    save_png(p / "masks" / "a.png", GOOD_MASK)


def _size_mismatch(p):
    save_png(p / "images" / "a.png", rgb(32, 30, 0))
    save_png(p / "masks" / "a.png", GOOD_MASK)


def _grey_levels(p):
    save_png(p / "images" / "a.png", rgb(32, 32, 0))
    save_png(p / "masks" / "a.png", np.array([[0, 128], [255, 0]], np.uint8).repeat(16, 0)
             .repeat(16, 1))


def _three_palette_indices(p):
    save_png(p / "images" / "a.png", rgb(32, 32, 0))
    labels = np.zeros((32, 32), np.uint8)
    labels[:8], labels[8:16] = 1, 2
    image = Image.frombytes("P", (32, 32), labels.tobytes())
    image.putpalette([0, 0, 0, 255, 255, 255, 128, 128, 128] + [0] * 759)
    image.save(p / "masks" / "a.gif")


def _colour_mask(p):
    save_png(p / "images" / "a.png", rgb(32, 32, 0))
    save_png(p / "masks" / "a.png", rgb(32, 32, 0) // 128 * 255)


def _complex(p):
    tifffile.imwrite(p / "images" / "a.tif", rgb(32, 32, 0)[..., 0] * (1 + 1j))
    save_png(p / "masks" / "a.png", GOOD_MASK)


def _nan(p):
    image = rgb(32, 32, 0).astype(np.float32)
    image[3, 4, 1] = np.nan
    tifffile.imwrite(p / "images" / "a.tif", image)
    save_png(p / "masks" / "a.png", GOOD_MASK)


def _inf(p):
    image = rgb(32, 32, 0)[..., 0].astype(np.float64)
    image[0, :2] = [np.inf, -np.inf]
    tifffile.imwrite(p / "images" / "a.tif", image)
    save_png(p / "masks" / "a.png", GOOD_MASK)


def _complex_mask(p):
    save_png(p / "images" / "a.png", rgb(32, 32, 0))
    tifffile.imwrite(p / "masks" / "a.tif", GOOD_MASK.astype(np.complex64))


@pytest.mark.parametrize("damage, file, message", [
    (_complex, "images/a.tif", "holds complex values"),
    (_nan, "images/a.tif", "has 1 NaN or infinite pixel values"),
    (_inf, "images/a.tif", "has 2 NaN or infinite pixel values"),
    (_complex_mask, "masks/a.tif", "mask .* holds complex values"),
    (_png, "images/a.png", "cannot read"),
    (_tiff, "images/a.tif", "cannot read"),
    (_jpeg, "images/a.jpg", "cannot read"),
    (_not_an_image, "images/a.png", "cannot read"),
    (_size_mismatch, "masks/a.png", "is 32x32 but its image .*images/a.png is 30x32"),
    (_grey_levels, "masks/a.png", "not binary: values 0, 128, 255"),
    (_three_palette_indices, "masks/a.gif", "not binary: values 0, 1, 2"),
    (_colour_mask, "masks/a.png", "colour channels that differ"),
])
def test_bad_file_is_one_line_naming_it(tmp_path, damage, file, message):
    save_png(tmp_path / "images" / "b.png", rgb(32, 32, 1))  # a good pair beside it
    save_png(tmp_path / "masks" / "b.png", GOOD_MASK)
    damage(tmp_path)
    with pytest.raises(UserError) as raised:
        data.load("folder", tmp_path, image_size=16)
    text = str(raised.value)
    assert "\n" not in text and str(tmp_path / file) in text
    assert re.search(message, text), text


@pytest.mark.parametrize("values, expected", [
    ([0, 255], [0, 1]), ([0, 1], [0, 1]), ([0, 0], [0, 0]), ([255, 255], [1, 1]),
])
def test_documented_mask_mapping(tmp_path, values, expected):
    path = save_png(tmp_path / "m.png", np.array([values], np.uint8))
    assert read_mask(str(path)).tolist() == [expected]


def test_palette_masks_are_read_by_index_not_colour(tmp_path):
    labels = np.array([[0, 1, 1]], np.uint8)
    # Index 5 painted black: by colour this would be background; by index it is foreground.
    path = tmp_path / "m.gif"
    image = Image.frombytes("P", (3, 1), (labels * 5).tobytes())
    image.putpalette([255, 255, 255] + [0, 0, 0] * 255)
    image.save(path)
    assert read_mask(str(path)).tolist() == [[0, 1, 1]]
    assert read_mask(str(save_palette_gif(tmp_path / "n.gif", labels, 9))).tolist() == [[0, 1, 1]]


def test_a_volume_mixing_bit_depths_is_refused_naming_the_slice(tmp_path):
    (tmp_path / "images" / "vol").mkdir(parents=True)
    for k, dtype in ((1, np.uint16), (2, np.uint16), (3, np.uint8)):
        tifffile.imwrite(tmp_path / "images" / "vol" / f"s{k}.tif",
                         rgb(16, 16, k)[..., 0].astype(dtype))
    with pytest.raises(UserError, match=r"images/vol/s3.tif is stored as uint8 but .*s1.tif of "
                                        "the same volume as uint16"):
        data.load("folder", tmp_path)
    (tmp_path / "images" / "vol" / "s3.tif").unlink()
    assert data.load("folder", tmp_path).images.shape == (2, 16, 16, 1)
