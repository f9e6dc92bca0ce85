"""Writers of tiny data sets in each layout, for reader tests in tmp_path (imported by tests)."""

from __future__ import annotations

import pathlib

import numpy as np
import tifffile
from PIL import Image


def disc(height: int, width: int, cy: float, cx: float, r: float) -> np.ndarray:
    """uint8 0/1 disc."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.uint8)


def save_png(path: pathlib.Path, array: np.ndarray) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def save_palette_gif(path: pathlib.Path, labels: np.ndarray, index: int = 1) -> pathlib.Path:
    """A palette GIF whose pixels are palette index 0 (black) or ``index`` (white)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    indices = (labels > 0).astype(np.uint8) * index
    image = Image.frombytes("P", indices.shape[::-1], indices.tobytes())
    palette = [0, 0, 0] * 256
    palette[3 * index: 3 * index + 3] = [255, 255, 255]
    image.putpalette(palette)
    image.save(path)
    return path


def rgb(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_lgg(root: pathlib.Path, patients: dict[str, int], size: int = 16) -> pathlib.Path:
    """kaggle_3m layout: ``root/<patient>/<patient>_<k>.tif`` and ``_<k>_mask.tif``.

    Slice k's image holds k in every pixel of channel 0 (so the order can be read back) and
    its mask a disc whose radius grows with k.
    """
    for p, (patient, slices) in enumerate(patients.items()):
        folder = root / patient
        folder.mkdir(parents=True)
        for k in range(1, slices + 1):
            image = rgb(size, size, seed=100 * p + k)
            image[..., 0] = k
            tifffile.imwrite(folder / f"{patient}_{k}.tif", image)
            tifffile.imwrite(folder / f"{patient}_{k}_mask.tif",
                             disc(size, size, size / 2, size / 2, k % 5) * 255)
    (root / "data.csv").write_text("Patient,x\n")
    return root


def write_isbi(root: pathlib.Path, train: int = 6, test: int = 3, size: int = 16) -> pathlib.Path:
    """zhixuhao/unet layout; label 255 = cell (a disc), 0 = membrane."""
    for n in range(train):
        save_png(root / "train" / "image" / f"{n}.png",
                 np.full((size, size), 10 * n, np.uint8))
        save_png(root / "train" / "label" / f"{n}.png",
                 disc(size, size, size / 2, size / 2, size / 4) * 255)
    for n in range(test):
        save_png(root / "test" / "image" / f"{n}.png", np.full((size, size), n, np.uint8))
    return root


def write_drive(root: pathlib.Path, subset: str = "training", numbers=(21, 22, 23),
                height: int = 44, width: int = 40) -> pathlib.Path:
    """DRIVE layout: RGB TIFF photos, palette-GIF vessel labels and field-of-view masks.

    The field of view is a disc; the "vessels" a horizontal bar across it.
    """
    fov = disc(height, width, height / 2, width / 2, min(height, width) / 2 - 2)
    vessels = np.zeros((height, width), np.uint8)
    vessels[height // 2 - 2: height // 2 + 2, 4:-4] = 1
    for n in numbers:
        folder = root / subset
        (folder / "images").mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(folder / "images" / f"{n:02d}_{subset}.tif", rgb(height, width, n))
        save_palette_gif(folder / "1st_manual" / f"{n:02d}_manual1.gif", vessels * fov)
        save_palette_gif(folder / "mask" / f"{n:02d}_{subset}_mask.gif", fov)
    return root
