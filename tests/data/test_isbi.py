"""The ISBI reader: real data counts, foreground choice, blocks of sections as volumes."""

import os

import numpy as np
import pytest
from data_layouts import write_isbi

from keras_seg import data
from keras_seg.errors import UserError


def test_real_records_24_labelled_and_30_test_sections(isbi_dir):
    train = data.records("isbi", isbi_dir)
    assert [os.path.basename(r.image) for r in train] == [f"{n}.png" for n in range(24)]
    assert [os.path.basename(r.mask) for r in train] == [f"{n}.png" for n in range(24)]
    assert all("label" in r.mask for r in train)
    test = data.records("isbi", isbi_dir, subset="test")
    assert [os.path.basename(r.image) for r in test] == [f"{n}.png" for n in range(30)]
    assert all(r.mask is None for r in test)


def test_real_load_membrane_is_the_default_foreground(isbi_dir):
    membrane = data.load("isbi", isbi_dir, image_size=32)
    assert membrane.images.shape == (24, 32, 32, 1) and membrane.masks.shape == (24, 32, 32, 1)
    assert 0.17 < membrane.masks.mean() < 0.27  # membrane: 22 % of the pixels
    cell = data.load("isbi", isbi_dir, image_size=32, foreground="cell")
    np.testing.assert_array_equal(cell.masks, 1 - membrane.masks)
    assert len(membrane.volumes) == 6  # blocks of 4 consecutive sections


def test_real_test_subset_is_unlabelled(isbi_dir):
    test = data.load("isbi", isbi_dir, image_size=16, subset="test")
    assert test.masks is None and test.images.shape == (30, 16, 16, 1)
    assert test.names.tolist()[:3] == ["0", "1", "2"]


def test_blocks_of_consecutive_sections(tmp_path):
    write_isbi(tmp_path, train=10, test=0)
    d = data.load("isbi", tmp_path)
    assert d.volumes == ["isbi_train_0-3", "isbi_train_4-7", "isbi_train_8-9"]
    assert d.slice_index.tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
    # Section n has intensity 10 n: numeric order (0, 1, ..., 9), z-scored per block.
    first_block = d.images[:4, 0, 0, 0]
    assert first_block.tolist() == sorted(first_block.tolist())
    single = data.load("isbi", tmp_path, sections_per_volume=1)
    assert len(single.volumes) == 10 and single.volumes[2] == "isbi_train_2"


def test_label_255_is_cell_and_0_is_membrane(tmp_path):
    write_isbi(tmp_path, train=2, test=0, size=16)
    cell = data.load("isbi", tmp_path, foreground="cell")
    membrane = data.load("isbi", tmp_path)
    assert cell.masks[0, 8, 8, 0] == 1 and cell.masks[0, 0, 0, 0] == 0  # disc = cell
    assert membrane.masks[0, 8, 8, 0] == 0 and membrane.masks[0, 0, 0, 0] == 1


@pytest.mark.parametrize("options, message", [
    ({"foreground": "nucleus"}, "unknown ISBI foreground"),
    ({"subset": "validation"}, "unknown ISBI subset"),
    ({"sections_per_volume": 0}, "sections_per_volume"),
    ({"colour": True}, "has no option 'colour'"),
])
def test_bad_options(tmp_path, options, message):
    write_isbi(tmp_path, train=2, test=0)
    with pytest.raises(UserError, match=message):
        data.load("isbi", tmp_path, **options)


def test_missing_label_folder_and_unpaired_files(tmp_path):
    write_isbi(tmp_path, train=3, test=0)
    os.remove(tmp_path / "train" / "label" / "1.png")
    with pytest.raises(UserError, match=r"image .*1\.png has no mask"):
        data.load("isbi", tmp_path)
    os.remove(tmp_path / "train" / "image" / "1.png")
    (tmp_path / "train" / "label" / "7.png").write_bytes(b"")
    with pytest.raises(UserError, match=r"mask .*7\.png has no image"):
        data.load("isbi", tmp_path)
    with pytest.raises(UserError, match="test.image does not exist"):
        data.load("isbi", tmp_path, subset="test")
