"""Turn file records into a reading plan: decode, validate, fit to size, normalise per volume.

Decoding happens here, in Python and thread pools, rather than in the tf.data graph: tf.io
cannot decode TIFF, and bad data must be found before training starts rather than in the middle
of an epoch. Each volume is read as a whole: its files are decoded and checked in record order
(a UserError names the first bad file), then the volume is cropped, resized and normalised, and
every slice gets its :class:`~keras_seg.data.geometry.Geometry`.

Bit depth: all slices of one volume must share one stored dtype (e.g. all uint8, or all uint16),
because a volume is normalised as a whole; a volume mixing 8-bit and 16-bit slices would have its
8-bit slices flattened to the bottom of the range. Such a volume is refused naming the first
slice that differs (convert the files, or make each slice its own volume).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from keras_seg.data.decode import read_image, read_mask
from keras_seg.data.geometry import Geometry
from keras_seg.data.plan import Plan, VolumeTask, collect, with_channels
from keras_seg.data.records import Record, stem
from keras_seg.data.resize import resize_image, resize_mask
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

FITS = ("resize", "patch")
DECODE_THREADS = 8  # per volume; volumes are read in parallel too (keras_seg.data.plan)

Normaliser = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
# A window chooser: f(images (n, H, W, C) float32 of one volume) -> ((top, left, height,
# width), (pad top, bottom, left, right)) or None for the whole slice.
Window = Callable[[np.ndarray], tuple[tuple[int, int, int, int], tuple[int, int, int, int]]
                  | None]
LabelMap = Callable[[np.ndarray], np.ndarray]


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


def _check_sizes(arrays: Sequence[np.ndarray], paths: Sequence[str], hint: str) -> None:
    """A UserError names the first file whose (H, W) differs from the first one's."""
    first = arrays[0].shape[:2]
    for array, path in zip(arrays, paths, strict=True):
        if array.shape[:2] != first:
            raise UserError(f"image {path} is {_size(array)} but {paths[0]} is "
                            f"{_size(arrays[0])}; {hint}")


def _check_dtypes(arrays: Sequence[np.ndarray], paths: Sequence[str]) -> None:
    """A UserError names the first slice whose stored dtype differs from the volume's first."""
    first = arrays[0].dtype
    for array, path in zip(arrays, paths, strict=True):
        if array.dtype != first:
            raise UserError(f"image {path} is stored as {array.dtype} but {paths[0]} of the "
                            f"same volume as {first}; the slices of one volume must share one "
                            "bit depth (convert them, or make each its own volume)")


def size_hint(fit: str) -> str:
    """What to tell the user when slices that must share a size do not."""
    return ("set --image-size to resize them" if fit == "resize"
            else "patch training needs images of one size")


def _apply_window(array: np.ndarray | None, crop, pad) -> np.ndarray | None:
    if array is None:
        return None
    top, left, height, width = crop
    widths = [(0, 0), (pad[0], pad[1]), (pad[2], pad[3])] + [(0, 0)] * (array.ndim - 3)
    return np.pad(array[:, top: top + height, left: left + width], widths)


def read_volume(records: Sequence[Record], *, size: int | None, fit: str,
                normalise: Normaliser, window: Window | None = None,
                labels: LabelMap | None = None) -> SliceSet:
    """Decode, check, crop, resize and normalise the slices of one volume.

    Args:
        records: the volume's slices, in order.
        size: with ``fit="resize"``, the side every slice is resized to (None: native size);
            ignored with ``fit="patch"``.
        fit: ``"resize"`` or ``"patch"``.
        normalise: ``f(images (n, H, W, C) float32, roi (n, H, W, 1) or None) -> images``.
        window: optional crop-box chooser applied at native size (see ``Window``).
        labels: optional map applied to the uint8 masks (e.g. swap foreground/background).
    """
    paths = [r.image for r in records]
    if len(records) > 1:
        with ThreadPoolExecutor(min(DECODE_THREADS, len(records))) as pool:
            slices = list(pool.map(decode_record, records))
    else:
        slices = [decode_record(records[0])]
    _check_dtypes([s[0] for s in slices], paths)
    channels = max(s[0].shape[-1] for s in slices)
    images = [with_channels(s[0], channels).astype(np.float32) for s in slices]
    masks = None if slices[0][1] is None else [s[1] for s in slices]
    rois = None if slices[0][2] is None else [s[2] for s in slices]
    geometry = [Geometry.identity(r.image, im.shape[:2]) for r, im in
                zip(records, images, strict=True)]
    if window is not None:
        _check_sizes(images, paths, "the slices of one volume must have one size")
        stacked = np.stack(images)
        box = window(stacked)
        if box is not None:
            crop, pad = box
            images = list(_apply_window(stacked, crop, pad))
            masks = None if masks is None else list(_apply_window(np.stack(masks), crop, pad))
            rois = None if rois is None else list(_apply_window(np.stack(rois), crop, pad))
            geometry = [g.cropped(crop, pad) for g in geometry]
    if fit == "resize" and size is not None:
        images = [resize_image(im, (size, size)) for im in images]
        masks = None if masks is None else [resize_mask(m, (size, size)) for m in masks]
        rois = None if rois is None else [resize_mask(m, (size, size)) for m in rois]
        geometry = [g.resized((size, size)) for g in geometry]
    _check_sizes(images, paths, size_hint(fit))
    images = np.stack(images)
    masks = None if masks is None else np.stack(masks)[..., None]
    if masks is not None and labels is not None:
        masks = labels(masks)
    rois = None if rois is None else np.stack(rois)[..., None]
    return SliceSet(
        images=normalise(images, rois), masks=masks,
        volume_ids=np.array([r.volume_id for r in records]),
        slice_index=np.array([r.slice_index for r in records]),
        weights=None if rois is None else rois.astype(np.float32),
        names=np.array([r.name or stem(r.image) for r in records]),
        patch_size=None, geometry=geometry)


def plan(records: Sequence[Record], *, image_size: int | None, fit: str,
         normalise: Normaliser, window: Window | None = None, labels: LabelMap | None = None,
         options: dict | None = None) -> Plan:
    """The reading plan of ``records``: one task per volume (see :func:`read_volume`).

    Args:
        records: the slices, grouped by volume in the order they should appear.
        image_size: with ``fit="resize"``, the side every slice is resized to (None keeps the
            native size, which must then be the same for all to collect them into one set);
            with ``fit="patch"``, the side of the random training patches.
        fit: ``"resize"`` or ``"patch"``.
        normalise, window, labels: see :func:`read_volume`.
        options: the reader's name and options (part of the disk cache key).
    """
    if fit not in FITS:
        raise UserError(f"unknown fit '{fit}'; valid: {', '.join(FITS)}")
    if not records:
        raise UserError("the data set has no images")
    if len({r.mask is None for r in records}) > 1 or len({r.roi is None for r in records}) > 1:
        raise ValueError("records must all have masks (and regions of interest) or none")
    volumes: dict[str, list[Record]] = {}
    for r in records:
        volumes.setdefault(r.volume_id, []).append(r)

    def task(volume: str, members: list[Record]) -> VolumeTask:
        files = tuple(p for r in members for p in (r.image, r.mask, r.roi) if p is not None)
        return VolumeTask(volume, files, lambda: read_volume(
            members, size=image_size, fit=fit, normalise=normalise, window=window,
            labels=labels))

    return Plan([task(v, m) for v, m in volumes.items()],
                patch_size=image_size if fit == "patch" else None, size_hint=size_hint(fit),
                options={**(options or {}), "image_size": image_size, "fit": fit})


def assemble(records: Sequence[Record], *, image_size: int | None, fit: str,
             normalise: Normaliser, window: Window | None = None,
             labels: LabelMap | None = None, workers: int | None = None,
             verbose: int = 1) -> SliceSet:
    """Read ``records`` into one in-memory SliceSet (see :func:`plan` for the arguments).

    Returns:
        The SliceSet; the channel count is the largest in the set (grey slices of a colour set
        are repeated to 3 channels), masks are None when the records have none, weights hold
        the region of interest when the records have one.
    """
    return collect(plan(records, image_size=image_size, fit=fit, normalise=normalise,
                        window=window, labels=labels), workers=workers, verbose=verbose)
