"""The LGG reader: real data counts, numeric slice order, the reference normalisation, errors."""

import os

import numpy as np
import pytest
import tifffile
from data_layouts import write_lgg

from keras_seg import data
from keras_seg.data import lgg
from keras_seg.errors import UserError

# Slices per patient, from ../shared/data/lgg_mri_kaggle_3m/PROVENANCE.txt.
PATIENT_SLICES = {
    "TCGA_CS_4942_19970222": 20, "TCGA_CS_4943_20000902": 20, "TCGA_CS_4944_20010208": 20,
    "TCGA_CS_5393_19990606": 20, "TCGA_DU_5855_19951217": 26, "TCGA_DU_7298_19910324": 32,
    "TCGA_DU_A5TU_19980312": 23, "TCGA_DU_A5TW_19980228": 31, "TCGA_EZ_7264_20010816": 24,
    "TCGA_FG_5964_20010511": 26, "TCGA_FG_6692_20020606": 26, "TCGA_HT_7602_19951103": 20,
    "TCGA_HT_7686_19950629": 20, "TCGA_HT_7692_19960724": 20, "TCGA_HT_7874_19950902": 20,
    "TCGA_HT_7884_19980913": 20,
}


def test_real_records_16_patients_368_slices_in_numeric_order(lgg_dir):
    records = data.records("lgg", lgg_dir)
    assert len(records) == 368
    for patient, n in PATIENT_SLICES.items():
        mine = [r for r in records if r.volume_id == patient]
        assert [r.slice_index for r in mine] == list(range(1, n + 1))
        for r in mine:
            assert os.path.basename(r.image) == f"{patient}_{r.slice_index}.tif"
            assert os.path.basename(r.mask) == f"{patient}_{r.slice_index}_mask.tif"
    # The parent folder (holding kaggle_3m/) is accepted too.
    assert data.records("lgg", lgg_dir.parent) == records


def test_real_load_small_is_normalised_per_patient_and_channel(lgg_dir):
    d = data.load("lgg", lgg_dir, image_size=32)
    assert d.images.shape == (368, 32, 32, 3) and d.images.dtype == np.float32
    assert d.masks.shape == (368, 32, 32, 1) and set(np.unique(d.masks)) == {0, 1}
    assert d.volumes == sorted(PATIENT_SLICES)
    assert 0.008 < d.masks.mean() < 0.015  # tumour is ~1.1 % of the pixels
    for v in d.volumes:
        x = d.images[d.volume_ids == v].reshape(-1, 3).astype(np.float64)
        np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-4)
        np.testing.assert_allclose(x.std(0), 1.0, atol=1e-4)


def test_real_patient_matches_an_independent_computation(lgg_dir, tmp_path):
    patient = "TCGA_HT_7692_19960724"
    os.symlink(lgg_dir / patient, tmp_path / patient)
    d = data.load("lgg", tmp_path)
    raw = np.stack([tifffile.imread(lgg_dir / patient / f"{patient}_{k}.tif")
                    for k in range(1, 21)]).astype(np.float64)
    truth = np.stack([tifffile.imread(lgg_dir / patient / f"{patient}_{k}_mask.tif")
                      for k in range(1, 21)])
    p10, p99 = np.percentile(raw, 10, axis=(0, 1, 2)), np.percentile(raw, 99, axis=(0, 1, 2))
    x = np.clip((raw - p10) / (p99 - p10), 0, 1)
    x = (x - x.mean((0, 1, 2))) / x.std((0, 1, 2))
    np.testing.assert_allclose(d.images, x, atol=1e-4)
    np.testing.assert_array_equal(d.masks[..., 0], truth // 255)
    assert d.masks.sum(axis=(1, 2, 3)).astype(bool).sum() == 6  # tumour in 6 of 20 slices


def test_slices_sort_by_number_not_text(tmp_path):
    write_lgg(tmp_path, {"TCGA_XX_0001_20000101": 12})
    records = lgg.records(str(tmp_path))
    assert [r.slice_index for r in records] == list(range(1, 13))
    d = data.load("lgg", tmp_path)
    # Channel 0 of slice k holds the value k; the normalisation is monotonic (it clips the
    # lowest values together), so text order (1, 10, 11, 12, 2, ...) would not be sorted.
    first_pixel = d.images[:, 0, 0, 0].tolist()
    assert first_pixel == sorted(first_pixel) and len(set(first_pixel)) >= 10
    assert d.names.tolist()[:3] == [f"TCGA_XX_0001_20000101_{k}" for k in (1, 2, 3)]


def test_crop_brain_box_and_square_padding_by_hand():
    images = np.zeros((2, 10, 10, 1), np.float32)
    images[0, 2:6, 3:9] = 5.0  # brain: rows 2..5, columns 3..8 -> a 4x6 box
    images[1, 3, 4] = 0.4  # below 10 % of the maximum 5: background
    masks = np.zeros((2, 10, 10), np.uint8)
    masks[0, 3, 4] = 1
    out, out_masks, _ = lgg.crop_brain(images, masks)
    assert out.shape == (2, 6, 6, 1) and out_masks.shape == (2, 6, 6)
    expected = np.zeros((6, 6))
    expected[1:5, :] = 5.0  # 4 rows padded with one row above and one below
    np.testing.assert_array_equal(out[0, ..., 0], expected)
    assert out[1].max() == pytest.approx(0.4) and out[1, 1 + 1, 4 - 3, 0] == pytest.approx(0.4)
    assert np.argwhere(out_masks[0]).tolist() == [[2, 1]]


def test_crop_to_brain_option_keeps_every_slice(tmp_path):
    write_lgg(tmp_path, {"P_1": 3, "P_2": 4}, size=16)
    d = data.load("lgg", tmp_path, image_size=8, crop_to_brain=True)
    assert d.images.shape == (7, 8, 8, 3) and d.slice_index.tolist() == [1, 2, 3, 1, 2, 3, 4]


@pytest.mark.parametrize("damage, message", [
    (lambda p: os.remove(p / "P_1" / "P_1_2_mask.tif"), "P_1_2.tif has no mask"),
    (lambda p: os.remove(p / "P_1" / "P_1_3.tif"), "P_1_3_mask.tif has no image"),
    (lambda p: (p / "P_1" / "notes.txt").write_text("x"), "unexpected entry"),
    (lambda p: (p / "stray_1.tif").write_bytes(b"x"), "outside a patient folder"),
    (lambda p: (p / "P_2").mkdir(), "P_2 is empty"),
])
def test_layout_errors_name_the_file(tmp_path, damage, message):
    write_lgg(tmp_path, {"P_1": 3})
    damage(tmp_path)
    with pytest.raises(UserError, match=message):
        data.load("lgg", tmp_path, image_size=8)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        data.load("lgg", tmp_path / "nope")
    with pytest.raises(UserError, match="no patient folders"):
        data.load("lgg", tmp_path)
