"""Any image/mask folder pair (INTERFACE.md ``--data folder``).

Layout: ``DIR/images/`` and ``DIR/masks/`` with matching file stems (a mask may also be named
``<stem>_mask``); PNG, TIFF, JPEG or GIF, mixed freely. An image directly in ``images/`` is a
volume of its own; a sub-folder ``images/<volume>/`` (and the same ``masks/<volume>/``) groups
its images into one volume, ordered by name with numbers compared as numbers (``2`` before
``10``). Without a ``masks/`` folder the images are read unlabelled (for prediction).

Channels: grey images stay one channel unless the set also holds colour images, which makes
every image three channels. Normalisation: z-score per volume and channel.
"""

from __future__ import annotations

import os

from keras_seg.data.assemble import assemble
from keras_seg.data.normalise import zscore
from keras_seg.data.records import (
    Record,
    image_files,
    natural_key,
    pair_by_stem,
    require_dir,
    stem,
    visible_entries,
)
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

_MASK_SUFFIXES = ("", "_mask")


def _pairs(image_dir: str, mask_dir: str | None) -> list[tuple[str, str | None]]:
    images = image_files(image_dir, "the images folder")
    images = dict(sorted(images.items(), key=lambda kv: natural_key(kv[0])))
    if mask_dir is None:
        return [(path, None) for path in images.values()]
    if not os.path.isdir(mask_dir):
        if not images:
            return []
        raise UserError(f"mask folder {mask_dir} does not exist (for the images in "
                        f"{image_dir})")
    return pair_by_stem(images, image_files(mask_dir, "the masks folder"), _MASK_SUFFIXES)


def _check_no_subfolders(folder: str) -> None:
    for name in visible_entries(folder):
        if os.path.isdir(os.path.join(folder, name)):
            raise UserError(f"folder {os.path.join(folder, name)} is nested too deep (one "
                            "level of volume sub-folders is read)")


def records(data_dir: str) -> list[Record]:
    """Single images first (each its own volume), then each volume sub-folder in name order."""
    root = require_dir(data_dir, "data folder")
    image_root = require_dir(os.path.join(root, "images"), "images folder")
    mask_root = os.path.join(root, "masks")
    if not os.path.isdir(mask_root):
        mask_root = None
    out = [Record(image, mask, stem(image), 1) for image, mask in _pairs(image_root, mask_root)]
    singles = {r.volume_id for r in out}
    for name in visible_entries(image_root):
        folder = os.path.join(image_root, name)
        if not os.path.isdir(folder):
            continue
        if name in singles:
            raise UserError(f"volume folder {folder} has the name of an image beside it")
        _check_no_subfolders(folder)
        pairs = _pairs(folder, None if mask_root is None else os.path.join(mask_root, name))
        if not pairs:
            raise UserError(f"volume folder {folder} is empty")
        out += [Record(image, mask, name, k, name=f"{name}_{stem(image)}")
                for k, (image, mask) in enumerate(pairs, start=1)]
    for name in [] if mask_root is None else visible_entries(mask_root):
        if os.path.isdir(os.path.join(mask_root, name)) and \
                not os.path.isdir(os.path.join(image_root, name)):
            raise UserError(f"mask folder {os.path.join(mask_root, name)} has no images "
                            "folder of the same name")
    if not out:
        raise UserError(f"images folder {image_root} is empty")
    return out


def load(data_dir: str, image_size: int | None = None, *, fit: str = "resize") -> SliceSet:
    """Read an image/mask folder pair into a SliceSet (masks None without ``masks/``).

    Args:
        data_dir: the folder holding ``images/`` (and ``masks/``).
        image_size: side every image is resized to (None: keep the native size, which must
            then be the same for all); with ``fit="patch"``, the side of training patches.
        fit: ``"resize"`` (default; non-square images are stretched) or ``"patch"``.
    """
    return assemble(records(data_dir), image_size=image_size, fit=fit, normalise=zscore)
