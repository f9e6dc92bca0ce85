"""Any image/mask folder pair (``--data folder``).

Layout: ``DIR/images/`` and ``DIR/masks/`` with matching file stems (a mask may also be named
``<stem>_mask``); PNG, TIFF (any compression), JPEG, GIF or BMP, mixed freely. An image directly
in ``images/`` is a volume of its own; a sub-folder ``images/<volume>/`` (and the same
``masks/<volume>/``) groups its images into one volume, ordered by name with numbers compared as
numbers (``2`` before ``10``). Without a masks folder the images are read unlabelled (for
prediction).

Options for data sets named otherwise: ``image_dir`` and ``mask_dir`` (default ``images`` and
``masks``; folder names inside DIR, or absolute paths) and ``mask_suffix``: the mask of image
``<stem>.<ext>`` is ``<stem><mask_suffix>.<ext2>`` (PH2: ``_lesion``, ISIC:
``_segmentation``). ``mask_dir`` may be the image folder itself when ``mask_suffix`` is set:
files ending in the suffix are the masks, the others the images.

Channels: grey images stay one channel unless the set also holds colour images, which makes
every image three channels. Normalisation: z-score per volume and channel.
"""

from __future__ import annotations

import os

from keras_seg.data.assemble import plan as make_plan
from keras_seg.data.normalise import zscore
from keras_seg.data.plan import Plan, collect
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

DEFAULT_MASK_SUFFIXES = ("", "_mask")


def _suffixes(mask_suffix: str | None) -> tuple[str, ...]:
    if mask_suffix is None:
        return DEFAULT_MASK_SUFFIXES
    if not isinstance(mask_suffix, str) or any(c in mask_suffix for c in "/\\"):
        raise UserError(f"mask_suffix must be text without folder separators, got "
                        f"{str(mask_suffix)[:40]!r}")
    return (mask_suffix,)


def _split_same_folder(files: dict[str, str], suffix: str) -> tuple[dict, dict]:
    """Images and masks of one folder: masks are the stems ending in ``suffix``."""
    masks = {k: p for k, p in files.items() if k.endswith(suffix)}
    return {k: p for k, p in files.items() if k not in masks}, masks


def _pairs(image_dir: str, mask_dir: str | None, suffixes: tuple[str, ...]
           ) -> list[tuple[str, str | None]]:
    images = image_files(image_dir, "the images folder")
    masks = None
    if mask_dir is not None and os.path.realpath(mask_dir) == os.path.realpath(image_dir):
        images, masks = _split_same_folder(images, suffixes[0])
    images = dict(sorted(images.items(), key=lambda kv: natural_key(kv[0])))
    if mask_dir is None:
        return [(path, None) for path in images.values()]
    if masks is None:
        if not os.path.isdir(mask_dir):
            if not images:
                return []
            raise UserError(f"mask folder {mask_dir} does not exist (for the images in "
                            f"{image_dir})")
        masks = image_files(mask_dir, "the masks folder")
    return pair_by_stem(images, masks, suffixes)


def _check_no_subfolders(folder: str) -> None:
    for name in visible_entries(folder):
        if os.path.isdir(os.path.join(folder, name)):
            raise UserError(f"folder {os.path.join(folder, name)} is nested too deep (one "
                            "level of volume sub-folders is read)")


def records(data_dir: str, image_dir: str = "images", mask_dir: str = "masks",
            mask_suffix: str | None = None) -> list[Record]:
    """Single images first (each its own volume), then each volume sub-folder in name order.

    Args:
        data_dir: the data folder.
        image_dir, mask_dir: the image and mask folders, inside ``data_dir`` or absolute.
        mask_suffix: what a mask's stem adds to its image's stem; None: nothing or ``_mask``.
    """
    suffixes = _suffixes(mask_suffix)
    root = require_dir(data_dir, "data folder")
    image_root = require_dir(os.path.join(root, str(image_dir)), "images folder")
    mask_root = os.path.join(root, str(mask_dir))
    if not os.path.isdir(mask_root):
        mask_root = None
    elif os.path.realpath(mask_root) == os.path.realpath(image_root) and not mask_suffix:
        raise UserError(f"mask_dir {mask_dir} is the image folder; set mask_suffix to tell the "
                        "masks from the images")
    out = [Record(image, mask, stem(image), 1)
           for image, mask in _pairs(image_root, mask_root, suffixes)]
    singles = {r.volume_id for r in out}
    for name in visible_entries(image_root):
        folder = os.path.join(image_root, name)
        if not os.path.isdir(folder):
            continue
        if name in singles:
            raise UserError(f"volume folder {folder} has the name of an image beside it")
        _check_no_subfolders(folder)
        pairs = _pairs(folder, None if mask_root is None else os.path.join(mask_root, name),
                       suffixes)
        if not pairs:
            raise UserError(f"volume folder {folder} is empty")
        out += [Record(image, mask, name, k, name=f"{name}_{stem(image)}")
                for k, (image, mask) in enumerate(pairs, start=1)]
    same = mask_root is not None and os.path.realpath(mask_root) == os.path.realpath(image_root)
    for name in [] if mask_root is None or same else visible_entries(mask_root):
        if os.path.isdir(os.path.join(mask_root, name)) and \
                not os.path.isdir(os.path.join(image_root, name)):
            raise UserError(f"mask folder {os.path.join(mask_root, name)} has no images "
                            "folder of the same name")
    if not out:
        raise UserError(f"images folder {image_root} is empty")
    return out


def plan(data_dir: str, image_size: int | None = None, *, fit: str = "resize",
         image_dir: str = "images", mask_dir: str = "masks", mask_suffix: str | None = None
         ) -> Plan:
    """The reading plan of an image/mask folder pair (arguments as :func:`load`)."""
    return make_plan(records(data_dir, image_dir, mask_dir, mask_suffix), image_size=image_size,
                     fit=fit, normalise=zscore, options={"reader": "folder"})


def load(data_dir: str, image_size: int | None = None, *, fit: str = "resize",
         image_dir: str = "images", mask_dir: str = "masks", mask_suffix: str | None = None
         ) -> SliceSet:
    """Read an image/mask folder pair into a SliceSet (masks None without a masks folder).

    Args:
        data_dir: the folder holding ``images/`` (and ``masks/``).
        image_size: side every image is resized to (None: keep the native size, which must
            then be the same for all); with ``fit="patch"``, the side of training patches.
        fit: ``"resize"`` (default; non-square images are stretched) or ``"patch"``.
        image_dir, mask_dir, mask_suffix: see :func:`records`.
    """
    return collect(plan(data_dir, image_size, fit=fit, image_dir=image_dir, mask_dir=mask_dir,
                        mask_suffix=mask_suffix))
