"""File formats and naming of public data sets: compressed TIFF, BMP, mask suffixes and folders."""

import numpy as np
import pytest
import tifffile
from data_layouts import disc, rgb, save_png
from PIL import Image

from keras_seg import data
from keras_seg.data.decode import read_image, read_mask
from keras_seg.errors import UserError


@pytest.mark.parametrize("compression", ["lzw", "zlib", "packbits", "zstd"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_lossless_compressed_tiff_reads_exactly(tmp_path, compression, dtype):
    image = (rgb(24, 20, 3).astype(dtype) * (257 if dtype == np.uint16 else 1))
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, image, compression=compression)
    assert tifffile.TiffFile(path).pages[0].compression.name != "NONE"
    out = read_image(str(path))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, image)


def test_jpeg_in_tiff_reads_close_to_the_original(tmp_path):
    yy, xx = np.mgrid[0:32, 0:32]
    image = np.stack([yy * 8, xx * 8, (yy + xx) * 4], -1).astype(np.uint8)  # smooth: JPEG-friendly
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, image, compression="jpeg", photometric="rgb")
    assert tifffile.TiffFile(path).pages[0].compression.name == "JPEG"
    out = read_image(str(path))
    assert out.shape == (32, 32, 3) and np.abs(out.astype(int) - image).mean() < 3


def test_lzw_mask_and_drive_style_photograph(tmp_path):
    mask = disc(20, 20, 10, 10, 5) * 255
    tifffile.imwrite(tmp_path / "m.tif", mask, compression="lzw")
    np.testing.assert_array_equal(read_mask(str(tmp_path / "m.tif")), mask // 255)


def test_bmp_images_and_masks(tmp_path):
    image, mask = rgb(12, 14, 5), disc(12, 14, 6, 7, 3)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(image).save(tmp_path / "images" / "x.bmp")
    Image.fromarray(mask * 255).save(tmp_path / "masks" / "x.bmp")
    np.testing.assert_array_equal(read_image(str(tmp_path / "images" / "x.bmp")), image)
    d = data.load("folder", tmp_path)
    np.testing.assert_array_equal(d.masks[0, ..., 0], mask)


def _ph2_like(root, suffix="_lesion"):
    """PH2 names: IMD002.bmp with its mask IMD002_lesion.bmp."""
    for i, name in enumerate(("IMD002", "IMD010")):
        (root / "images").mkdir(exist_ok=True)
        (root / "masks").mkdir(exist_ok=True)
        Image.fromarray(rgb(16, 16, i)).save(root / "images" / f"{name}.bmp")
        Image.fromarray(disc(16, 16, 8, 8, 2 + i) * 255).save(
            root / "masks" / f"{name}{suffix}.bmp")


def test_mask_suffix_option(tmp_path):
    _ph2_like(tmp_path)
    with pytest.raises(UserError, match="IMD002.bmp has no mask .*'IMD002' or 'IMD002_mask'"):
        data.load("folder", tmp_path)
    d = data.load("folder", tmp_path, mask_suffix="_lesion")
    assert d.volumes == ["IMD002", "IMD010"]
    np.testing.assert_array_equal(d.masks[1, ..., 0], disc(16, 16, 8, 8, 3))
    recs = data.records("folder", tmp_path, mask_suffix="_lesion")
    assert [r.mask.rsplit("/", 1)[1] for r in recs] == ["IMD002_lesion.bmp", "IMD010_lesion.bmp"]


def test_mask_dir_and_image_dir_options(tmp_path):
    """ISIC names: ISIC_0000000.jpg in one folder, ISIC_0000000_segmentation.png in another."""
    save_png(tmp_path / "Training_Data" / "ISIC_0000000.png", rgb(16, 16, 0))
    save_png(tmp_path / "GroundTruth" / "ISIC_0000000_segmentation.png",
             disc(16, 16, 8, 8, 4) * 255)
    d = data.load("folder", tmp_path, image_dir="Training_Data", mask_dir="GroundTruth",
                  mask_suffix="_segmentation")
    assert d.volumes == ["ISIC_0000000"] and d.masks.sum() == disc(16, 16, 8, 8, 4).sum()


def test_masks_beside_the_images_need_a_suffix(tmp_path):
    save_png(tmp_path / "images" / "a.png", rgb(8, 8, 0))
    save_png(tmp_path / "images" / "a_lesion.png", disc(8, 8, 4, 4, 2) * 255)
    d = data.load("folder", tmp_path, mask_dir="images", mask_suffix="_lesion")
    assert d.volumes == ["a"] and d.masks.sum() == disc(8, 8, 4, 4, 2).sum()
    with pytest.raises(UserError, match="mask_dir images is the image folder; set mask_suffix"):
        data.load("folder", tmp_path, mask_dir="images")
    with pytest.raises(UserError, match="mask_suffix must be text"):
        data.load("folder", tmp_path, mask_suffix="a/b")
