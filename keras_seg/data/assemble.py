"""Read records into a SliceSet once, eagerly: decode, validate, fit to size, normalise.

Decoding happens here, in Python and a thread pool, rather than in the tf.data graph: tf.io
cannot decode TIFF, and bad data must be found before training starts rather than in the middle
of an epoch. Every file is decoded and checked first (a UserError names the first bad file, in
record order), then each volume is prepared, resized and normalised as a whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from keras_seg.data.decode import read_image, read_mask
from keras_seg.data.records import Record, stem
from keras_seg.data.resize import resize_image, resize_mask
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

FITS = ("resize", "patch")

# One volume: images float32 (n, H, W, C), masks uint8 (n, H, W) or None, roi uint8 or None.
Volume = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]
Normaliser = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
Preparer = Callable[[np.ndarray, np.ndarray | None, np.ndarray | None], Volume]


def _size(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]}"


def decode_record(record: Record) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Decode one record's files and check that their sizes agree."""
    image = read_image(record.image)
    decoded = [image]
    for path in (record.mask, record.roi):
        other = None if path is None else read_mask(path)
        if other is not None and other.shape != image.shape[:2]:
            raise UserError(f"mask {path} is {_size(other)} but its image {record.image} is "
                            f"{_size(image)}")
        decoded.append(other)
    return tuple(decoded)


def _with_channels(image: np.ndarray, channels: int) -> np.ndarray:
    return np.repeat(image, channels, axis=-1) if image.shape[-1] != channels else image


def _check_sizes(arrays: Sequence[np.ndarray], paths: Sequence[str], hint: str) -> None:
    """A UserError names the first file whose (H, W) differs from the first one's."""
    first = arrays[0].shape[:2]
    for array, path in zip(arrays, paths, strict=True):
        if array.shape[:2] != first:
            raise UserError(f"image {path} is {_size(array)} but {paths[0]} is "
                            f"{_size(arrays[0])}; {hint}")


def _stack(arrays: Sequence[np.ndarray], paths: Sequence[str], hint: str) -> np.ndarray:
    _check_sizes(arrays, paths, hint)
    return np.stack(arrays)


def _size_hint(fit: str) -> str:
    return ("set --image-size to resize them" if fit == "resize"
            else "patch training needs images of one size")


def _volume(slices, records, *, size, fit, normalise, prepare):
    """Prepare, resize and normalise the decoded slices of one volume."""
    paths = [r.image for r in records]
    channels = max(s[0].shape[-1] for s in slices)
    images = [_with_channels(s[0], channels).astype(np.float32) for s in slices]
    masks = None if slices[0][1] is None else [s[1] for s in slices]
    rois = None if slices[0][2] is None else [s[2] for s in slices]
    if prepare is not None:
        hint = "the slices of one volume must have one size"
        volume = prepare(_stack(images, paths, hint),
                         None if masks is None else np.stack(masks),
                         None if rois is None else np.stack(rois))
        images, masks, rois = (None if a is None else list(a) for a in volume)
    if fit == "resize" and size is not None:
        images = [resize_image(im, (size, size)) for im in images]
        masks = None if masks is None else [resize_mask(m, (size, size)) for m in masks]
        rois = None if rois is None else [resize_mask(m, (size, size)) for m in rois]
    images = _stack(images, paths, _size_hint(fit))
    masks = None if masks is None else np.stack(masks)[..., None]
    rois = None if rois is None else np.stack(rois)[..., None]
    return normalise(images, rois), masks, rois


def assemble(records: Sequence[Record], *, image_size: int | None, fit: str,
             normalise: Normaliser, prepare: Preparer | None = None,
             workers: int | None = None) -> SliceSet:
    """Decode, check and normalise ``records`` into a SliceSet.

    Args:
        records: the slices, grouped by volume in the order they should appear.
        image_size: with ``fit="resize"``, the side every slice is resized to (None keeps the
            native size, which must then be the same for all); with ``fit="patch"``, the side
            of the random training patches (the slices keep their native size).
        fit: ``"resize"`` or ``"patch"``.
        normalise: ``f(images (n, H, W, C) float32, roi (n, H, W, 1) or None) -> images``,
            applied to each volume after resizing.
        prepare: optional ``f(images, masks, roi) -> (images, masks, roi)`` applied to each
            volume at native size before resizing (e.g. crop to the brain); masks and roi
            are (n, H, W) uint8 or None.
        workers: threads for decoding (default: CPU count + 4, at most 32).

    Returns:
        The SliceSet; the channel count is the largest in the set (grey slices of a colour set
        are repeated to 3 channels), masks are None when the records have none, weights hold
        the region of interest when the records have one.
    """
    if fit not in FITS:
        raise UserError(f"unknown fit '{fit}'; valid: {', '.join(FITS)}")
    if not records:
        raise UserError("the data set has no images")
    if len({r.mask is None for r in records}) > 1 or len({r.roi is None for r in records}) > 1:
        raise ValueError("records must all have masks (and regions of interest) or none")
    workers = workers or min(32, (os.cpu_count() or 1) + 4)
    volumes: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        volumes.setdefault(r.volume_id, []).append(i)
    with ThreadPoolExecutor(workers) as pool:
        decoded = list(pool.map(decode_record, records))
        parts = list(pool.map(
            lambda idx: _volume([decoded[i] for i in idx], [records[i] for i in idx],
                                size=image_size, fit=fit, normalise=normalise,
                                prepare=prepare),
            volumes.values()))
    channels = max(p[0].shape[-1] for p in parts)
    ordered = [records[i] for idx in volumes.values() for i in idx]
    firsts = [records[idx[0]].image for idx in volumes.values()]
    _check_sizes([p[0][0] for p in parts], firsts, _size_hint(fit))
    images = np.concatenate([_with_channels(p[0], channels) for p in parts])
    data = SliceSet(
        images=images,
        masks=None if parts[0][1] is None else np.concatenate([p[1] for p in parts]),
        volume_ids=np.array([r.volume_id for r in ordered]),
        slice_index=np.array([r.slice_index for r in ordered]),
        weights=None if parts[0][2] is None
        else np.concatenate([p[2] for p in parts]).astype(np.float32),
        names=np.array([r.name or stem(r.image) for r in ordered]),
        patch_size=image_size if fit == "patch" else None,
    )
    if data.patch_size is not None and data.patch_size > min(images.shape[1:3]):
        raise UserError(f"image size {data.patch_size} is larger than the images "
                        f"({images.shape[2]}x{images.shape[1]}) it should be a patch of")
    return data
