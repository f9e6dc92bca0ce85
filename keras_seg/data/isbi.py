"""The ISBI 2012 EM-membrane set (layout of the U-Net tutorial, zhixuhao/unet).

Layout: ``DIR/train/image/<n>.png`` with labels ``DIR/train/label/<n>.png`` (255 = cell
interior, 0 = membrane), and unlabelled ``DIR/test/image/<n>.png`` (read with
``subset="test"``; a ``test/label/`` folder, if present, is read too). Sections are ordered by
``n`` as a number. Images are grey: one channel.

Foreground: ``foreground="membrane"`` (default) makes the membrane (label 0) the class the
model predicts, the challenge's target and the minority class (22 % of pixels), so Dice
measures something; ``"cell"`` keeps the labels as stored (the tutorial's convention).

Volumes: the sections come from one contiguous stack, so neighbours are nearly the same image.
``sections_per_volume`` consecutive sections (default 4) form one volume, so that a volume-wise
split keeps whole blocks apart instead of validating on the neighbours of training sections.
Normalisation: z-score per volume.
"""

from __future__ import annotations

import os

from keras_seg.data.assemble import plan as make_plan
from keras_seg.data.normalise import zscore
from keras_seg.data.plan import Plan, collect
from keras_seg.data.records import Record, image_files, natural_key, pair_by_stem, require_dir
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

# Config defaults of this data set (keras_seg.data.defaults): the sections' full 512 pixels.
DEFAULTS = {"data": {"image_size": 512}}

SUBSETS = ("train", "test")
FOREGROUNDS = ("membrane", "cell")


def records(data_dir: str, subset: str = "train", sections_per_volume: int = 4
            ) -> list[Record]:
    """One record per section, in numeric order, grouped into blocks of consecutive sections."""
    if subset not in SUBSETS:
        raise UserError(f"unknown ISBI subset '{subset}'; valid: {', '.join(SUBSETS)}")
    if not (isinstance(sections_per_volume, int) and sections_per_volume >= 1):
        raise UserError(f"sections_per_volume must be an integer >= 1, got "
                        f"{sections_per_volume!r}")
    root = require_dir(data_dir, "ISBI folder")
    image_dir = require_dir(os.path.join(root, subset, "image"), "ISBI image folder")
    images = image_files(image_dir, "the ISBI image folder")
    if not images:
        raise UserError(f"ISBI image folder {image_dir} is empty")
    images = dict(sorted(images.items(), key=lambda kv: natural_key(kv[0])))
    label_dir = os.path.join(root, subset, "label")
    if os.path.isdir(label_dir):
        pairs = pair_by_stem(images, image_files(label_dir, "the ISBI label folder"))
    elif subset == "train":
        raise UserError(f"ISBI label folder {label_dir} does not exist")
    else:
        pairs = [(path, None) for path in images.values()]
    keys = list(images)
    out = []
    for i, (image, mask) in enumerate(pairs):
        block = keys[i - i % sections_per_volume: i - i % sections_per_volume
                     + sections_per_volume]
        volume = f"isbi_{subset}_{block[0]}" + (f"-{block[-1]}" if len(block) > 1 else "")
        out.append(Record(image, mask, volume, i % sections_per_volume + 1))
    return out


def _membrane(masks):
    return 1 - masks


def plan(data_dir: str, image_size: int | None = None, *, subset: str = "train",
         foreground: str = "membrane", sections_per_volume: int = 4,
         fit: str = "resize") -> Plan:
    """The reading plan of the ISBI set (arguments as :func:`load`)."""
    if foreground not in FOREGROUNDS:
        raise UserError(f"unknown ISBI foreground '{foreground}'; valid: "
                        f"{', '.join(FOREGROUNDS)}")
    return make_plan(records(data_dir, subset, sections_per_volume), image_size=image_size,
                     fit=fit, normalise=zscore,
                     labels=_membrane if foreground == "membrane" else None,
                     options={"reader": "isbi", "foreground": foreground})


def load(data_dir: str, image_size: int | None = None, *, subset: str = "train",
         foreground: str = "membrane", sections_per_volume: int = 4,
         fit: str = "resize") -> SliceSet:
    """Read the ISBI set into a SliceSet (1 channel; masks 0/1, None for the test subset).

    Args:
        data_dir: the folder holding ``train/`` and ``test/``.
        image_size: side the 512x512 sections are resized to (None keeps 512); with
            ``fit="patch"``, the side of the training patches.
        subset: ``"train"`` (labelled, default) or ``"test"`` (unlabelled, for prediction).
        foreground: ``"membrane"`` (default) or ``"cell"``: which class is 1 in the masks.
        sections_per_volume: consecutive sections per volume (default 4).
        fit: ``"resize"`` (default) or ``"patch"``.
    """
    return collect(plan(data_dir, image_size, subset=subset, foreground=foreground,
                        sections_per_volume=sections_per_volume, fit=fit))
