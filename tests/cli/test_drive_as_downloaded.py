"""DRIVE as its public release unpacks: the README's two DRIVE commands, end to end.

The fixture mirrors the downloaded ``DRIVE/`` folder: 584x565 RGB photographs in LZW-compressed
TIFFs (``training/images/21_training.tif``), vessel labels and field-of-view masks as 8-bit GIFs
with values 0/255 (``1st_manual/21_manual1.gif``, ``mask/21_training_mask.gif``), and the test
half with ``test/images/01_test.tif``, ``test/mask/01_test_mask.gif``, ``1st_manual`` and
``2nd_manual``. Training runs ``train.py --config configs/drive.yaml`` in a fresh interpreter
(a small model and 64-pixel patches to keep it short), prediction the README's
``predict --data-option subset=test``.
"""

import csv
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from keras_seg import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEIGHT, WIDTH = 584, 565  # DRIVE's photographs, rows x columns


def grey_gif(path: pathlib.Path, values: np.ndarray) -> None:
    """An 8-bit GIF of 0/255 values (a grey palette, index = value), as DRIVE's labels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.frombytes("P", values.shape[::-1], values.astype(np.uint8).tobytes())
    image.putpalette([v for i in range(256) for v in (i, i, i)])
    image.save(path)


def fundus(number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RGB photograph, 0/255 vessels, 0/255 field of view) of one made-up eye."""
    rng = np.random.default_rng(number)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    fov = ((yy - HEIGHT / 2) ** 2 + (xx - WIDTH / 2) ** 2) <= (WIDTH / 2 - 10) ** 2
    vessels = np.zeros((HEIGHT, WIDTH), bool)
    for _ in range(6):  # dark lines of random position, angle and width, as vessels look
        cy, cx, angle = rng.uniform(150, 430), rng.uniform(150, 410), rng.uniform(0, np.pi)
        distance = np.abs((yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle))
        vessels |= distance <= rng.uniform(1.5, 4)
    vessels &= fov
    photo = np.stack([150 + 40 * fov, 80 + 30 * fov, 40 + 10 * fov], -1).astype(np.float32)
    photo[vessels] *= 0.5
    photo += rng.normal(0, 6, photo.shape)
    return (np.clip(photo, 0, 255).astype(np.uint8), vessels.astype(np.uint8) * 255,
            fov.astype(np.uint8) * 255)


def write_drive_release(root: pathlib.Path) -> pathlib.Path:
    """``root/DRIVE`` laid out, named and compressed as the public download."""
    drive = root / "DRIVE"
    for subset, numbers in (("training", range(21, 27)), ("test", range(1, 3))):
        for n in numbers:
            photo, vessels, fov = fundus(n)
            images = drive / subset / "images"
            images.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(images / f"{n:02d}_{subset}.tif", photo, photometric="rgb",
                             compression="lzw")
            grey_gif(drive / subset / "1st_manual" / f"{n:02d}_manual1.gif", vessels)
            grey_gif(drive / subset / "mask" / f"{n:02d}_{subset}_mask.gif", fov)
            if subset == "test":
                grey_gif(drive / subset / "2nd_manual" / f"{n:02d}_manual2.gif", vessels)
    return drive


@pytest.fixture(scope="module")
def drive_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("drive")
    drive = write_drive_release(root)
    cmd = [sys.executable, "train.py", "--config", "configs/drive.yaml", "--data-dir", str(drive),
           "--output", str(root / "run"), "--image-size", "64", "--epochs", "2",
           "--set", "model.filters=4", "--set", "model.depth=2", "--set", "data.val_volumes=2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return drive, root / "run"


def test_the_release_trains_from_its_compressed_tiffs(drive_run):
    drive, run = drive_run
    assert tifffile.TiffFile(drive / "training" / "images" / "21_training.tif").pages[0] \
        .compression == tifffile.COMPRESSION.LZW
    summary = json.loads((run / "summary.json").read_text())
    # 6 photographs, 2 validate; each photograph is one volume of one slice
    assert summary["data"] == {"train_volumes": 4, "val_volumes": 2,
                               "train_slices": 4, "val_slices": 2}
    assert np.isfinite(summary["best_val_dsc"])
    assert (run / "saved_model" / "saved_model.pb").is_file()


def test_the_test_half_predicts_in_the_photographs_grid(drive_run, tmp_path):
    drive, run = drive_run
    status = cli.main(["predict", "--model", str(run / "best.keras"), "--data-option",
                       "subset=test", "--postprocess", "none", "--output", str(tmp_path)])
    assert status == 0
    with open(tmp_path / "per_volume_metrics.csv") as f:
        rows = {row["volume"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == ["01_test", "02_test"]
    for n in (1, 2):
        row = rows[f"{n:02d}_test"]
        assert row["split"] == "unseen"
        with Image.open(tmp_path / "masks" / f"{n:02d}_test.png") as png:
            predicted = np.asarray(png) > 0
        assert predicted.shape == (HEIGHT, WIDTH)  # the photograph's own grid
        with Image.open(drive / "test" / "1st_manual" / f"{n:02d}_manual1.gif") as gif:
            truth = np.asarray(gif) > 0
        with Image.open(drive / "test" / "mask" / f"{n:02d}_test_mask.gif") as gif:
            fov = np.asarray(gif) > 0
        # The vessel table counts pixels inside the field of view only.
        p, t = predicted[fov], truth[fov]
        tp, tn = np.sum(p & t), np.sum(~p & ~t)
        fp, fn = np.sum(p & ~t), np.sum(~p & t)
        assert float(row["accuracy"]) == pytest.approx((tp + tn) / fov.sum(), abs=1e-9)
        assert float(row["sensitivity"]) == pytest.approx(tp / (tp + fn), abs=1e-9)
        assert float(row["specificity"]) == pytest.approx(tn / (tn + fp), abs=1e-9)
        assert 0.0 <= float(row["auc"]) <= 1.0
