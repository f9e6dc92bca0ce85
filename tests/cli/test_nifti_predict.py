"""`predict` on NIfTI volumes writes each case back as NIfTI in its source file's geometry.

A hand-built softmax model whose classes are known exactly (through the API), and the user's
whole path from the command line: BraTS-style files written with nibabel, `train.py`, then
`python -m keras_seg predict` on the run.
"""

import pathlib
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import yaml
from PIL import Image

from keras_seg.predict import predict

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHAPE = (14, 12, 6)
AFFINE = np.array([[-0.9, 0, 0, 80], [0, 0.8, 0, -60], [0, 0, 2.5, 30], [0, 0, 0, 1]])
BRATS_MAP = {0: 0, 1: 1, 2: 2, 4: 3}
LEVEL = {0: 10.0, 2: 20.0, 4: 30.0, 1: 40.0}  # t1 intensity of each stored label


def seg_volume(case: int) -> np.ndarray:
    seg = np.zeros(SHAPE, np.uint8)
    seg[3:10, 2:9, 1:5] = 2              # oedema
    seg[5:8, 4:7, 2:4] = 4               # enhancing
    seg[6, 5, 1 + case] = 1              # necrosis
    seg[1 + case, 9:11, 5] = 4           # a second small region
    return seg


def write_cases(root: pathlib.Path, cases: int = 2) -> dict[str, np.ndarray]:
    """BraTS layout, one modality (t1) whose intensity tells the label, plus uniform noise."""
    rng = np.random.default_rng(3)
    segs = {}
    for c in range(cases):
        name = f"BraTS_{c:03d}"
        (root / name).mkdir(parents=True)
        seg = seg_volume(c)
        t1 = np.vectorize(LEVEL.get)(seg) + rng.random(SHAPE)
        header = nib.Nifti1Header()
        header.set_xyzt_units("mm")
        nib.save(nib.Nifti1Image(t1.astype(np.float32), AFFINE, header),
                 str(root / name / f"{name}_t1.nii.gz"))
        nib.save(nib.Nifti1Image(seg, AFFINE, header), str(root / name / f"{name}_seg.nii.gz"))
        segs[name] = seg
    return segs


def band_model(path: pathlib.Path, bounds) -> pathlib.Path:
    """A 1-channel, 4-class softmax model: class 0 below bounds[0], then 2, 3, 1 (stored 0, 2,
    4, 1) in the bands between ``bounds``; logits linear in the pixel, slopes 0, 1, 2, 3."""
    import keras

    b1, b2, b3 = bounds
    # classes (0, 1, 2, 3): slope / intercept, so that the upper envelope is 0 | 2 | 3 | 1
    kernel = np.array([0.0, 3.0, 1.0, 2.0], np.float32).reshape(1, 1, 1, 4)
    bias = np.array([0.0, -(b1 + b2 + b3), -b1, -(b1 + b2)], np.float32)
    inputs = keras.Input((None, None, 1))
    conv = keras.layers.Conv2D(4, 1, activation="softmax", name="bands")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([kernel * 10, bias * 10])  # sharper softmax, same argmax
    model.save(path)
    return path


def zscored_levels(t1: np.ndarray) -> list[float]:
    """The z-scored intensity (over the volume) of each label's level, in band order."""
    mean, std = t1.mean(), t1.std()
    return [(LEVEL[v] + 0.5 - mean) / std for v in (0, 2, 4, 1)]


def test_a_softmax_model_writes_the_cases_back_with_their_stored_labels(tmp_path):
    segs = write_cases(tmp_path / "brats")
    t1 = np.asarray(nib.load(tmp_path / "brats" / "BraTS_000" / "BraTS_000_t1.nii.gz").dataobj)
    levels = zscored_levels(t1)
    bounds = [(a + b) / 2 for a, b in zip(levels[:-1], levels[1:], strict=True)]
    other = np.asarray(nib.load(tmp_path / "brats" / "BraTS_001" / "BraTS_001_t1.nii.gz").dataobj)
    assert zscored_levels(other) == pytest.approx(levels, abs=0.1)  # one model fits both cases
    model = band_model(tmp_path / "bands.keras", bounds)
    options = {"modalities": ["t1"], "labels": BRATS_MAP}
    for size, out in ((None, "native"), (8, "resized")):
        summary = predict(str(model), data="nifti", data_dir=str(tmp_path / "brats"),
                          image_size=size, options=options, output=str(tmp_path / out),
                          postprocess="none", verbose=0)
        assert summary["volumes"] == 2 and summary["slices"] == 2 * SHAPE[2]
        for case, seg in segs.items():
            written = nib.load(tmp_path / out / "nifti" / f"{case}.nii.gz")
            source = nib.load(tmp_path / "brats" / case / f"{case}_t1.nii.gz")
            assert written.shape == SHAPE
            np.testing.assert_allclose(written.affine, source.affine)
            assert written.header.get_zooms() == source.header.get_zooms()
            labels = np.asarray(written.dataobj)
            if size is None:  # the model reads the label from the intensity: exactly the file
                np.testing.assert_array_equal(labels, seg)
            else:  # predicted at 8x8 and mapped back onto 14x12: the same stored values
                assert set(np.unique(labels).tolist()) <= {0, 1, 2, 4}
                assert np.mean(labels == seg) > 0.85
            png = np.asarray(Image.open(tmp_path / out / "masks" / f"{case}_3.png"))
            np.testing.assert_array_equal(png == 255, labels[:, :, 2] > 0)  # slice 3: index 2


def test_train_then_predict_from_the_command_line_writes_nifti_in_the_source_grid(tmp_path):
    segs = write_cases(tmp_path / "brats", cases=3)
    config = tmp_path / "brats.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"name": "nifti", "dir": str(tmp_path / "brats"), "image_size": 16,
                 "val_volumes": 1,
                 "options": {"modalities": ["t1"], "labels": {0: 0, 1: 1, 2: 1, 4: 1}}},
        "model": {"name": "unet", "filters": 4, "depth": 2},
        "training": {"epochs": 1, "batch_size": 8}}))
    run = tmp_path / "run"
    train = subprocess.run([sys.executable, "train.py", "--config", str(config), "--output",
                            str(run)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "keras_seg", "predict", "--model", str(run),
                           "--output", str(out), "--postprocess", "none"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for case in segs:
        written = nib.load(out / "nifti" / f"{case}.nii.gz")
        source = nib.load(tmp_path / "brats" / case / f"{case}_t1.nii.gz")
        assert written.shape == SHAPE and np.allclose(written.affine, source.affine)
        labels = np.asarray(written.dataobj)
        assert labels.dtype == np.uint8 and set(np.unique(labels).tolist()) <= {0, 1}
        masks = np.stack([np.asarray(Image.open(out / "masks" / f"{case}_{k}.png")) == 255
                          for k in range(1, SHAPE[2] + 1)], axis=-1)
        np.testing.assert_array_equal(labels == 1, masks)  # the PNG masks, slice by slice
