"""What every reader yields: one record per slice, plus the folder-listing rules they share."""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from keras_seg.errors import UserError

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".gif", ".bmp")


class Record(NamedTuple):
    """One slice on disk.

    Attributes:
        image: path of the image file.
        mask: path of its label mask, ``None`` for unlabelled data.
        volume_id: the volume (patient, stack) the slice belongs to.
        slice_index: position of the slice in its volume, 1-based.
        roi: optional path of a region-of-interest mask (DRIVE's field of view): pixels at 0
            are ignored by losses and metrics.
        name: display name of the slice (used for file names of predictions).
    """

    image: str
    mask: str | None
    volume_id: str
    slice_index: int
    roi: str | None = None
    name: str | None = None


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers by value: ``img_2`` before ``img_10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def stem(path: str) -> str:
    """File name without folder and extension."""
    return os.path.splitext(os.path.basename(path))[0]


def require_dir(path: str, what: str = "data folder") -> str:
    """``path`` if it is an existing directory, else a UserError naming it."""
    if path is None:
        raise UserError(f"no {what} given: pass --data-dir DIR")
    path = os.path.expanduser(str(path))
    if not os.path.isdir(path):
        problem = "is not a directory" if os.path.exists(path) else "does not exist"
        raise UserError(f"{what} {path} {problem}")
    return path


def visible_entries(folder: str) -> list[str]:
    """Names in ``folder`` except hidden ones (``.DS_Store``, ``.git``), naturally sorted."""
    return sorted((n for n in os.listdir(folder) if not n.startswith(".")), key=natural_key)


def image_files(folder: str, what: str = "folder") -> dict[str, str]:
    """The image files of ``folder`` by stem; any other file or a repeated stem is an error.

    Sub-folders are left to the caller. The result may be empty; readers that need files check.
    """
    files: dict[str, str] = {}
    for name in visible_entries(folder):
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            continue
        if not name.lower().endswith(IMAGE_EXTENSIONS):
            raise UserError(f"unexpected file {path} in {what} (images must be "
                            f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)})")
        key = stem(name)
        if key in files:
            raise UserError(f"two files with the stem '{key}' in {folder}: "
                            f"{os.path.basename(files[key])} and {name}")
        files[key] = path
    return files


def pair_by_stem(images: dict[str, str], masks: dict[str, str], mask_suffixes=("",)
                 ) -> list[tuple[str, str]]:
    """Pair image and mask files by stem (a mask may add one of ``mask_suffixes``).

    Every image needs exactly one mask and every mask an image; otherwise a UserError names
    the file left over.
    """
    pairs, used = [], set()
    for key, image in images.items():
        found = [masks[key + s] for s in mask_suffixes if key + s in masks]
        if not found:
            stems = " or ".join(f"'{key}{s}'" for s in mask_suffixes)
            raise UserError(f"image {image} has no mask (expected a file with the stem "
                            f"{stems} in the masks folder)")
        if len(found) > 1:
            raise UserError(f"image {image} has several masks: {', '.join(found)}")
        used.add(stem(found[0]))
        pairs.append((image, found[0]))
    extra = [path for key, path in masks.items() if key not in used]
    if extra:
        raise UserError(f"mask {extra[0]} has no image")
    return pairs
