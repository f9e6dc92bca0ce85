"""The DRIVE retinal-vessel set.

Layout: ``DIR/training/images/NN_training.tif`` (584x565 RGB), vessel labels
``DIR/training/1st_manual/NN_manual1.gif`` (0/255) and field-of-view masks
``DIR/training/mask/NN_training_mask.gif``; ``DIR/test/`` alike (``NN_test.tif``,
``NN_test_mask.gif``, ``1st_manual/`` and ``2nd_manual/``, whose GIFs are palette images read by
index). Files are matched by their leading number ``NN``; each photograph is its own volume.

Field of view: pixels outside it are ignored by losses and metrics (SliceSet.weights is 0
there), as the reference's ignore_index does. Normalisation: z-score per image and channel over
the field of view; pixels outside it are set to 0.

The photographs keep their native size (``fit="patch"``): training uses random patches of
``image_size`` with foreground oversampling, evaluation and prediction use whole images padded
to the network stride (keras_seg.data.padding).
"""

from __future__ import annotations

import os
import re

from keras_seg.data.assemble import plan as make_plan
from keras_seg.data.normalise import zscore
from keras_seg.data.plan import Plan, collect
from keras_seg.data.records import Record, image_files, natural_key, require_dir, stem
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

# Config defaults of this data set (keras_seg.data.defaults): 480-pixel patches of the
# 584x565 photographs, 4 per batch.
DEFAULTS = {"data": {"image_size": 480}, "training": {"batch_size": 4}}

SUBSETS = ("training", "test")
MANUALS = ("1st_manual", "2nd_manual")
_NUMBER = re.compile(r"^(\d+)_")


def _by_number(folder: str, what: str) -> dict[int, str]:
    files: dict[int, str] = {}
    for key, path in sorted(image_files(require_dir(folder, what), what).items(),
                            key=lambda kv: natural_key(kv[0])):
        match = _NUMBER.match(key)
        if match is None:
            raise UserError(f"file {path} in {what} does not start with its image number "
                            "(DRIVE names files NN_...)")
        number = int(match[1])
        if number in files:
            raise UserError(f"two files for image {number} in {folder}: {files[number]} "
                            f"and {path}")
        files[number] = path
    if not files:
        raise UserError(f"{what} {folder} is empty")
    return files


def _match(images: dict[int, str], others: dict[int, str], what: str) -> None:
    for number, path in images.items():
        if number not in others:
            raise UserError(f"image {path} has no {what}")
    for number, path in others.items():
        if number not in images:
            raise UserError(f"{what} {path} has no image")


def records(data_dir: str, subset: str = "training", manual: str | None = "1st_manual"
            ) -> list[Record]:
    """One record per photograph; ``manual=None`` reads no labels (masks None)."""
    if subset not in SUBSETS:
        raise UserError(f"unknown DRIVE subset '{subset}'; valid: {', '.join(SUBSETS)}")
    if manual is not None and manual not in MANUALS:
        raise UserError(f"unknown DRIVE manual '{manual}'; valid: {', '.join(MANUALS)} or "
                        "null (unlabelled)")
    root = os.path.join(require_dir(data_dir, "DRIVE folder"), subset)
    images = _by_number(os.path.join(root, "images"), "DRIVE image folder")
    fov = _by_number(os.path.join(root, "mask"), "DRIVE field-of-view folder")
    _match(images, fov, "field-of-view mask")
    labels = {}
    if manual is not None:
        label_dir = os.path.join(root, manual)
        if not os.path.isdir(label_dir):
            raise UserError(f"DRIVE label folder {label_dir} does not exist (set "
                            "data.options.manual: null to read the images unlabelled)")
        labels = _by_number(label_dir, "DRIVE label folder")
        _match(images, labels, "vessel label")
    return [Record(path, labels.get(n), stem(path), 1,
                   roi=fov[n]) for n, path in images.items()]


def plan(data_dir: str, image_size: int | None = None, *, subset: str = "training",
         manual: str | None = "1st_manual", fit: str = "patch") -> Plan:
    """The reading plan of DRIVE (arguments as :func:`load`)."""
    return make_plan(records(data_dir, subset, manual), image_size=image_size, fit=fit,
                     normalise=zscore, options={"reader": "drive"})


def load(data_dir: str, image_size: int | None = None, *, subset: str = "training",
         manual: str | None = "1st_manual", fit: str = "patch") -> SliceSet:
    """Read DRIVE into a SliceSet (3 channels, weights = field of view).

    Args:
        data_dir: the folder holding ``training/`` and ``test/``.
        image_size: side of the random training patches (``fit="patch"``, default), or of
            the resized images (``fit="resize"``).
        subset: ``"training"`` (default) or ``"test"``.
        manual: ``"1st_manual"`` (default), ``"2nd_manual"``, or None for no labels.
        fit: ``"patch"`` (default) or ``"resize"``.
    """
    return collect(plan(data_dir, image_size, subset=subset, manual=manual, fit=fit))
