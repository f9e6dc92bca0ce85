"""The NIfTI reader: BraTS and Decathlon layouts, label maps, spacing, writing predictions back."""

import nibabel as nib
import numpy as np
import pytest

from keras_seg import data
from keras_seg.data import nifti, to_native
from keras_seg.errors import UserError

SHAPE = (12, 10, 5)
AFFINE = np.array([[0.9, 0, 0, -10], [0, 0.8, 0, 5], [0, 0, 2.5, 30], [0, 0, 0, 1]])
BRATS_MAP = {0: 0, 1: 1, 2: 2, 4: 3}


def _seg(case: int) -> np.ndarray:
    seg = np.zeros(SHAPE, np.uint8)
    seg[2:6, 3:7, 1:4] = 2       # oedema
    seg[3:5, 4:6, 2] = 4         # enhancing
    seg[3, 4, 1 + case] = 1      # necrosis
    return seg


def _write(path, array, affine=AFFINE):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), str(path))
    return path


def write_brats(root, cases=2, modalities=("flair", "t1", "t1ce", "t2"), sep="_"):
    rng = np.random.default_rng(0)
    for c in range(cases):
        name = f"BraTS_{c:03d}"
        for m, modality in enumerate(modalities):
            volume = (rng.random(SHAPE) * 100 + 1000 * (m + 1)).astype(np.int16)
            volume[0] = 0  # background outside the "brain"
            _write(root / name / f"{name}{sep}{modality}.nii.gz", volume)
        _write(root / name / f"{name}{sep}seg.nii.gz", _seg(c))
    return root


def test_brats_layout_channels_labels_and_spacing(tmp_path):
    write_brats(tmp_path)
    d = data.load("nifti", tmp_path, labels=BRATS_MAP)
    assert d.volumes == ["BraTS_000", "BraTS_001"] and d.images.shape == (10, 12, 10, 4)
    assert d.slice_index.tolist() == [1, 2, 3, 4, 5] * 2
    expected = np.moveaxis(np.vectorize(BRATS_MAP.get)(_seg(1)), 2, 0)
    np.testing.assert_array_equal(d.masks[5:, ..., 0], expected)
    assert set(np.unique(d.masks).tolist()) == {0, 1, 2, 3}
    g = d.geometry[7]
    assert (g.axis, g.index, g.shape) == (2, 2, (12, 10))
    assert g.spacing == pytest.approx((0.9, 0.8))
    assert g.source.endswith("BraTS_001/BraTS_001_flair.nii.gz")
    per_channel = d.images[:5].reshape(-1, 4)
    np.testing.assert_allclose(per_channel.mean(0), 0, atol=1e-4)  # z-score per case, channel
    np.testing.assert_allclose(per_channel.std(0), 1, atol=1e-3)


def test_brats_2023_names_modality_choice_and_nonzero_intensity(tmp_path):
    write_brats(tmp_path, cases=1, modalities=("t2f", "t1c"), sep="-")
    d = data.load("nifti", tmp_path, modalities=["t1c"], intensity="nonzero",
                  labels={0: 0, 1: 1, 2: 1, 4: 1})
    assert d.images.shape == (5, 12, 10, 1)
    assert np.all(d.images[:, 0] == 0)  # the zero background stays 0
    inside = d.images[:, 1:]
    assert abs(inside.mean()) < 1e-4 and abs(inside.std() - 1) < 1e-3
    assert set(np.unique(d.masks).tolist()) == {0, 1}


def test_decathlon_4d_images_along_another_axis(tmp_path):
    rng = np.random.default_rng(1)
    for case in ("la_003", "la_007"):
        _write(tmp_path / "imagesTr" / f"{case}.nii.gz", rng.random((*SHAPE, 2)).astype(
            np.float32))
        _write(tmp_path / "labelsTr" / f"{case}.nii.gz", (_seg(0) > 0).astype(np.uint8))
    _write(tmp_path / "imagesTs" / "la_010.nii.gz", rng.random((*SHAPE, 2)).astype(np.float32))
    d = data.load("nifti", tmp_path, axis=0, channels=[1])
    assert d.images.shape == (24, 10, 5, 1)
    assert d.geometry[0].spacing == pytest.approx((0.8, 2.5))
    np.testing.assert_array_equal(d.masks[:12, ..., 0], _seg(0) > 0)
    test = data.load("nifti", tmp_path, subset="test", image_size=8)
    assert test.masks is None and test.images.shape == (5, 8, 8, 2)
    assert len(data.records("nifti", tmp_path, axis=1)) == 20


def test_round_trip_read_predict_write_back(tmp_path):
    """Read at a training size, 'predict' the truth, map back, write: the label file again."""
    write_brats(tmp_path / "in", cases=1)
    for size in (None, 16):
        cases = list(data.iter_volumes("nifti", tmp_path / "in", size, labels=BRATS_MAP))
        case = cases[0]
        labels = []
        for mask, g in zip(case.masks, case.geometry, strict=True):
            prob = np.eye(4, dtype=np.float32)[mask[..., 0]]  # a perfect softmax prediction
            labels.append(to_native(prob, g).argmax(-1))
        out = nifti.write_prediction(labels, case.geometry, str(tmp_path / f"p{size}.nii.gz"),
                                     BRATS_MAP)
        written, source = nib.load(out), nib.load(case.geometry[0].source)
        assert written.shape == SHAPE and np.allclose(written.affine, source.affine)
        assert written.header.get_zooms() == source.header.get_zooms()
        agreement = np.mean(np.asarray(written.dataobj) == _seg(0))
        assert agreement == 1.0 if size is None else agreement > 0.9


@pytest.mark.parametrize("damage, options, message", [
    (lambda p: (p / "BraTS_000" / "BraTS_000_t2.nii.gz").unlink(), {}, "has no 't2' file"),
    (lambda p: _write(p / "BraTS_000" / "BraTS_000_t1.nii.gz", np.zeros((3, 3, 3), np.int16)),
     {}, "has shape \\(3, 3, 3\\) but"),
    (lambda p: _write(p / "BraTS_001" / "BraTS_001_t1.nii.gz",
                      np.full(SHAPE, np.nan, np.float32)), {}, "NaN or infinite"),
    (lambda p: _write(p / "BraTS_001" / "BraTS_001_t1.nii.gz",
                      np.ones(SHAPE, np.complex64)), {}, "complex values"),
    (lambda p: None, {"labels": {0: 0, 1: 1, 2: 2}}, "holds the value 4, which the labels"),
    (lambda p: (p / "BraTS_001" / "BraTS_001_seg.nii.gz").unlink(), {}, "no 'seg' label"),
    (lambda p: None, {"axis": 3}, "axis must be 0, 1 or 2"),
    (lambda p: None, {"intensity": "minmax"}, "unknown NIfTI intensity"),
    (lambda p: None, {"labels": {0: 0, 4: 300}}, "class ids 0..255"),
])
def test_bad_input_is_one_line_naming_the_file(tmp_path, damage, options, message):
    write_brats(tmp_path)
    damage(tmp_path)
    with pytest.raises(UserError, match=message) as raised:
        data.load("nifti", tmp_path, **options)
    assert "\n" not in str(raised.value)
