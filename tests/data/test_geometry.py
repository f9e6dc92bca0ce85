"""Per-slice geometry: every reader records it, and to_native maps predictions back to the files."""

import numpy as np
import pytest
import tifffile
from data_layouts import disc, rgb, save_png

from keras_seg import data
from keras_seg.data import Geometry, to_native
from keras_seg.data.resize import resize_image
from keras_seg.errors import UserError


def test_to_native_by_hand_crop_and_pad_without_resize():
    # A 10x12 source, crop rows 2..5 / columns 3..8 (4x6), one zero row above and below: 6x6.
    g = Geometry.identity("x.png", (10, 12)).cropped((2, 3, 4, 6), (1, 1, 0, 0))
    assert g.size == (6, 6) and g.padded_shape == (6, 6)
    prob = np.arange(36, dtype=np.float32).reshape(6, 6, 1)
    native = to_native(prob, g)
    expected = np.zeros((10, 12), np.float32)
    expected[2:6, 3:9] = prob[1:5, :, 0]
    np.testing.assert_array_equal(native[..., 0], expected)


def test_to_native_fills_background_of_softmax_outputs():
    g = Geometry.identity("x.png", (4, 4)).cropped((1, 1, 2, 2), (0, 0, 0, 0))
    prob = np.zeros((2, 2, 3), np.float32)
    prob[..., 2] = 1.0
    native = to_native(prob, g)
    assert native[0, 0].tolist() == [1.0, 0.0, 0.0] and native[1, 1].tolist() == [0, 0, 1.0]
    with pytest.raises(ValueError, match="expected"):
        to_native(np.zeros((3, 2, 1)), g)


@pytest.mark.parametrize("size", [16, 48])  # shrink and enlarge
def test_round_trip_crop_resize_pad_of_a_smooth_field(size):
    """A smooth field through crop + pad + resize and back equals itself within tolerance."""
    yy, xx = np.mgrid[0:40, 0:30].astype(np.float32)
    field = (np.sin(yy / 9.0) + np.cos(xx / 7.0))[..., None]
    g = Geometry.identity("x.png", (40, 30)).cropped((5, 4, 30, 20), (0, 0, 5, 5)).resized(
        (size, size))
    cropped = np.pad(field[5:35, 4:24], ((0, 0), (5, 5), (0, 0)))
    delivered = resize_image(cropped, (size, size))
    native = to_native(delivered, g)
    inner = native[7:33, 6:22, 0] - field[7:33, 6:22, 0]  # away from the padding seam
    assert np.abs(inner).max() < 0.05
    assert np.all(native[:5] == 0) and np.all(native[:, :4] == 0)


def test_lgg_crop_to_brain_geometry_maps_masks_back(tmp_path):
    """Crop to the brain + pad to a square + resize, then to_native: the original masks back."""
    folder = tmp_path / "P_1"
    folder.mkdir()
    truth = []
    for k in range(1, 4):
        image = np.zeros((64, 64, 3), np.uint8)
        image[10:50, 20:44] = 200  # the "brain": a 40x24 box
        mask = disc(64, 64, 30, 32, 6 + k)
        truth.append(mask)
        tifffile.imwrite(folder / f"P_1_{k}.tif", image)
        tifffile.imwrite(folder / f"P_1_{k}_mask.tif", mask * 255)
    d = data.load("lgg", tmp_path, image_size=32, crop_to_brain=True)
    g = d.geometry[0]
    assert (g.shape, g.crop, g.pad, g.size) == ((64, 64), (10, 20, 40, 24), (0, 0, 8, 8),
                                                (32, 32))
    assert g.source == str(folder / "P_1_1.tif") and g.index == 0
    for k in range(3):
        native = to_native(d.masks[k].astype(np.float32), d.geometry[k])[..., 0] > 0.5
        dice = 2 * (native & (truth[k] > 0)).sum() / (native.sum() + truth[k].sum())
        assert native.shape == (64, 64) and dice > 0.93


def test_folder_geometry_records_source_and_resize(tmp_path):
    save_png(tmp_path / "images" / "a.png", rgb(20, 30, 0))
    save_png(tmp_path / "masks" / "a.png", disc(20, 30, 10, 15, 4) * 255)
    d = data.load("folder", tmp_path, image_size=16)
    g = d.geometry[0]
    assert g == Geometry(str(tmp_path / "images" / "a.png"), (20, 30), (0, 0, 20, 30),
                         (0, 0, 0, 0), (16, 16))
    assert d.subset(np.array([0])).geometry[0] == g


def test_mixed_sizes_load_one_volume_at_a_time_at_native_size(tmp_path):
    sizes = {"a": (20, 30), "b": (12, 12), "c": (33, 17)}
    for name, (h, w) in sizes.items():
        save_png(tmp_path / "images" / f"{name}.png", rgb(h, w, 1))
    with pytest.raises(UserError, match="set --image-size"):
        data.load("folder", tmp_path)
    volumes = list(data.iter_volumes("folder", tmp_path, channels=3))
    assert [v.volumes[0] for v in volumes] == ["a", "b", "c"]
    for v, (h, w) in zip(volumes, sizes.values(), strict=True):
        assert v.images.shape == (1, h, w, 3) and v.masks is None
        assert v.geometry[0].shape == (h, w) == v.geometry[0].size
        prob = np.random.default_rng(0).random((h, w, 1)).astype(np.float32)
        np.testing.assert_array_equal(to_native(prob, v.geometry[0]), prob)
