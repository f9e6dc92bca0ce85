"""The LGG brain-MRI set (Kaggle ``lgg-mri-segmentation``, folder ``kaggle_3m``).

Layout: ``DIR/<patient>/<patient>_<k>.tif`` (256x256 RGB: pre-contrast, FLAIR, post-contrast)
and ``DIR/<patient>/<patient>_<k>_mask.tif`` (0/255). ``DIR`` may also be the folder that holds
``kaggle_3m/``. Files at the top level (``data.csv``, ``README.md``) are not read.

A volume is a patient; its slices are ordered by ``k`` as a number (1, 2, ..., 10, not 1, 10,
2). Normalisation, per patient and channel, as the reference: clip to the 10th-99th percentile
and rescale to [0, 1], then z-score. Option ``crop_to_brain`` first crops every slice of a
patient to the box around the brain (pixels above 10 % of the volume's maximum), pads it to a
square and only then resizes, as the reference does; no slice is dropped.
"""

from __future__ import annotations

import os
import re

import numpy as np

from keras_seg.data.assemble import plan as make_plan
from keras_seg.data.normalise import percentile_rescale, zscore
from keras_seg.data.plan import Plan, collect
from keras_seg.data.records import (
    IMAGE_EXTENSIONS,
    Record,
    natural_key,
    require_dir,
    visible_entries,
)
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

_SLICE = re.compile(r"^(?P<patient>.+)_(?P<k>\d+)(?P<mask>_mask)?\.tiff?$", re.IGNORECASE)


def _patient_records(folder: str) -> list[Record]:
    patient = os.path.basename(folder)
    images: dict[int, str] = {}
    masks: dict[int, str] = {}
    for name in visible_entries(folder):
        path = os.path.join(folder, name)
        match = _SLICE.match(name)
        if match is None or os.path.isdir(path):
            raise UserError(f"unexpected entry {path} in an LGG patient folder (expected "
                            f"{patient}_<k>.tif and {patient}_<k>_mask.tif)")
        (masks if match["mask"] else images)[int(match["k"])] = path
    if not images and not masks:
        raise UserError(f"LGG patient folder {folder} is empty")
    for k in sorted(set(images) | set(masks)):
        if k not in masks:
            raise UserError(f"image {images[k]} has no mask ({patient}_{k}_mask.tif)")
        if k not in images:
            raise UserError(f"mask {masks[k]} has no image ({patient}_{k}.tif)")
    return [Record(images[k], masks[k], patient, k) for k in sorted(images)]


def records(data_dir: str) -> list[Record]:
    """One record per slice: patients in name order, slices in numeric order of ``k``."""
    root = require_dir(data_dir, "LGG folder")
    if os.path.isdir(os.path.join(root, "kaggle_3m")):
        root = os.path.join(root, "kaggle_3m")
    entries = visible_entries(root)
    stray = [n for n in entries if n.lower().endswith(IMAGE_EXTENSIONS)]
    if stray:
        raise UserError(f"image {os.path.join(root, stray[0])} lies outside a patient folder "
                        "(LGG layout: DIR/<patient>/<patient>_<k>.tif)")
    patients = [os.path.join(root, n) for n in entries if os.path.isdir(os.path.join(root, n))]
    if not patients:
        raise UserError(f"no patient folders in {root} (LGG layout: "
                        "DIR/<patient>/<patient>_<k>.tif and _<k>_mask.tif)")
    return [r for folder in sorted(patients, key=natural_key) for r in _patient_records(folder)]


def brain_window(images: np.ndarray, threshold: float = 0.1
                 ) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
    """The box around the brain of one volume and the padding that makes it square.

    The brain is every pixel where some channel of some slice exceeds ``threshold`` times the
    volume's maximum; one box serves all slices.

    Args:
        images: (n, H, W, C) float32, one volume.
        threshold: fraction of the maximum that separates brain from background.

    Returns:
        ``((top, left, height, width), (pad top, bottom, left, right))``, or None when no
        pixel is brain (the slices are then kept whole).
    """
    brain = (images > threshold * images.max()).any(axis=(0, 3))
    if not brain.any():
        return None
    rows, cols = np.flatnonzero(brain.any(1)), np.flatnonzero(brain.any(0))
    h, w = int(rows[-1] + 1 - rows[0]), int(cols[-1] + 1 - cols[0])
    side = max(h, w)
    pad = ((side - h) // 2, side - h - (side - h) // 2,
           (side - w) // 2, side - w - (side - w) // 2)
    return (int(rows[0]), int(cols[0]), h, w), pad


def crop_brain(images: np.ndarray, masks: np.ndarray | None, roi: np.ndarray | None = None,
               threshold: float = 0.1):
    """Crop a volume to :func:`brain_window`'s box, then zero-pad it to a square.

    Args:
        images: (n, H, W, C) float32, one volume.
        masks: (n, H, W) uint8 or None.
        roi: (n, H, W) uint8 or None.
        threshold: see :func:`brain_window`.

    Returns:
        ``(images, masks, roi)`` cropped and padded to (n, S, S, ...).
    """
    window = brain_window(images, threshold)
    if window is None:
        return images, masks, roi
    (top, left, h, w), pad = window
    box = (slice(None), slice(top, top + h), slice(left, left + w))
    widths = [(0, 0), pad[:2], pad[2:]]

    def fit(a, extra=()):
        return None if a is None else np.pad(a[box], widths + list(extra))
    return fit(images, [(0, 0)]), fit(masks), fit(roi)


def normalise(images: np.ndarray, roi: np.ndarray | None = None) -> np.ndarray:
    """The reference's normalisation of one patient: percentile rescale, then z-score.

    ``roi`` is unused (LGG has none); it is part of the normaliser signature of assemble.
    """
    return zscore(percentile_rescale(images, 10.0, 99.0))


def plan(data_dir: str, image_size: int | None = None, *, crop_to_brain: bool = False,
         fit: str = "resize") -> Plan:
    """The reading plan of the LGG set (arguments as :func:`load`)."""
    return make_plan(records(data_dir), image_size=image_size, fit=fit, normalise=normalise,
                     window=brain_window if crop_to_brain else None,
                     options={"reader": "lgg", "crop_to_brain": bool(crop_to_brain)})


def load(data_dir: str, image_size: int | None = None, *, crop_to_brain: bool = False,
         fit: str = "resize") -> SliceSet:
    """Read the LGG set into a SliceSet (3 channels, masks 0/1).

    Args:
        data_dir: the ``kaggle_3m`` folder (or the folder holding it).
        image_size: side the slices are resized to (None keeps 256).
        crop_to_brain: crop each patient to the brain and pad to square before resizing, as
            the reference does. Default False (predictions then map 1:1 onto the files).
        fit: ``"resize"`` (default) or ``"patch"``.
    """
    return collect(plan(data_dir, image_size, crop_to_brain=crop_to_brain, fit=fit))
