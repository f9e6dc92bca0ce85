"""A data set as a list of volumes to read, and the ways to read them.

Every file reader describes its data set as a :class:`Plan`: one :class:`VolumeTask` per volume
(patient, stack, image), each able to decode, check, prepare and normalise its volume on its own
into a small :class:`SliceSet`. The plan is then read

- all into memory: :func:`collect` (``data.cache: memory``, the default);
- one volume at a time, each at its own size: :func:`iter_volumes` (prediction of folders of
  mixed sizes, bounded memory);
- through the on-disk cache: keras_seg.data.cache (``data.cache: disk``).

Channels: a set whose volumes differ in channel count (grey and colour images) is delivered with
the largest count, grey slices repeated.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from keras_seg import progress
from keras_seg.data.sliceset import SliceSet, aligned_empty
from keras_seg.errors import UserError

PROGRESS_MIN_FILES = 200  # sets with fewer files load without a progress display


@dataclasses.dataclass(frozen=True)
class VolumeTask:
    """One volume of a data set, not yet read.

    Attributes:
        volume_id: the volume's id.
        files: every file the volume reads (for the cache key and the progress count).
        read: ``f() -> SliceSet`` of the volume: decoded, checked, prepared, normalised, with
            a geometry per slice.
    """

    volume_id: str
    files: tuple[str, ...]
    read: Callable[[], SliceSet]


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a reader will read.

    Attributes:
        tasks: the volumes, in data-set order.
        patch_size: side of the random training patches when the slices keep their native size
            (``fit="patch"``), else None.
        size_hint: what to tell the user when the slices' sizes differ.
        options: the reader's name and every option that changes the delivered arrays (part of
            the disk cache's key).
    """

    tasks: list[VolumeTask]
    patch_size: int | None
    size_hint: str
    options: dict


def with_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Repeat a one-channel (..., 1) array to ``channels``; other counts must already match."""
    check_channels(images, channels)
    return images if images.shape[-1] == channels else np.repeat(images, channels, axis=-1)


def check_channels(images: np.ndarray, channels: int) -> None:
    """A UserError unless ``images`` has ``channels`` channels or one (to be repeated)."""
    if images.shape[-1] not in (1, channels):
        raise UserError(f"images have {images.shape[-1]} channels where {channels} are needed")


def _workers(workers: int | None) -> int:
    return workers or min(32, (os.cpu_count() or 1) + 4)


def _check_sizes(parts: list[SliceSet], hint: str) -> None:
    first = parts[0].images.shape[1:3]
    for part in parts:
        if part.images.shape[1:3] != first:
            h, w = part.images.shape[1:3]
            raise UserError(f"image {part.geometry[0].source} is {w}x{h} but "
                            f"{parts[0].geometry[0].source} is {first[1]}x{first[0]}; {hint}")


def _read_all(plan: Plan, workers: int | None, verbose: int, label: str) -> Iterator[SliceSet]:
    """The volumes in plan order, read in a thread pool, with a progress display for big sets."""
    files = sum(len(t.files) for t in plan.tasks)
    shown = verbose and files >= PROGRESS_MIN_FILES
    bar = progress.Progress(files, label, unit="file", verbose=verbose if shown else 0)
    with ThreadPoolExecutor(_workers(workers)) as pool:
        for task, part in zip(plan.tasks, pool.map(lambda t: t.read(), plan.tasks),
                              strict=True):
            bar.add(len(task.files))
            yield part
    bar.close()


def concatenate(parts: list[SliceSet], patch_size: int | None = None, hint: str = "") -> SliceSet:
    """One SliceSet of several volumes' parts (channels unified, sizes checked).

    Consumes ``parts``: each part's images are copied into one preallocated array and the
    part's reference is dropped at once, so memory peaks near one copy of the data set plus
    one volume (``np.concatenate`` held two whole copies until it returned).
    """
    _check_sizes(parts, hint)
    channels = max(p.images.shape[-1] for p in parts)

    def join(field):
        arrays = [getattr(p, field) for p in parts]
        return None if arrays[0] is None else np.concatenate(arrays)

    fields = {field: join(field) for field in
              ("masks", "volume_ids", "slice_index", "weights", "names", "geometry")}
    images = aligned_empty((sum(len(p.images) for p in parts), *parts[0].images.shape[1:3],
                            channels), np.result_type(*(p.images.dtype for p in parts)))
    start, freed = 0, 0
    for i, part in enumerate(parts):
        check_channels(part.images, channels)
        count = len(part.images)
        images[start: start + count] = part.images  # (..., 1) broadcasts to channels
        start += count
        freed += part.images.nbytes
        parts[i] = None  # the part's arrays go as soon as they are copied
        if freed >= TRIM_EVERY_BYTES:
            release_freed_memory()
            freed = 0
    release_freed_memory()
    return SliceSet(images=images, patch_size=patch_size, **fields)


TRIM_EVERY_BYTES = 256 * 2**20


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None


def release_freed_memory() -> None:
    """Hand memory freed inside the C allocator back to the system.

    Volumes decoded in worker threads are a few MB each: glibc serves them from its per-thread
    arenas and keeps the pages when they are freed, so without this a data set read into
    memory stays resident about twice (measured: 906 -> 701 MB for a 600 MB set). Calls glibc's
    ``malloc_trim(0)``; does nothing where the C library has none.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def check_patch_size(patch_size: int | None, shape: tuple[int, ...]) -> None:
    """A UserError when training patches of ``patch_size`` do not fit images of ``shape``."""
    if patch_size is not None and patch_size > min(shape[1:3]):
        raise UserError(f"image size {patch_size} is larger than the images "
                        f"({shape[2]}x{shape[1]}) it should be a patch of")


def collect(plan: Plan, workers: int | None = None, verbose: int = 1) -> SliceSet:
    """Read every volume of ``plan`` into one in-memory SliceSet.

    Args:
        plan: the reader's plan.
        workers: threads reading volumes in parallel (default: CPU count + 4, at most 32).
        verbose: 1 shows progress for sets of at least ``PROGRESS_MIN_FILES`` files
            (keras_seg.progress), 0 is silent.
    """
    parts = list(_read_all(plan, workers, verbose, "reading"))
    data = concatenate(parts, plan.patch_size, plan.size_hint)
    check_patch_size(data.patch_size, data.images.shape)
    return data


def iter_volumes(plan: Plan, channels: int | None = None) -> Iterator[SliceSet]:
    """Read the volumes of ``plan`` one at a time, each at its own size.

    Memory holds one volume; a folder of differently sized images (each its own volume) is
    fine at ``image_size=None``. Every slice keeps its ``geometry``, so predictions can be
    mapped back to the files with :func:`keras_seg.data.geometry.to_native`.

    Args:
        plan: the reader's plan.
        channels: deliver this many channels (grey volumes repeated; the model's input
            channels); None keeps each volume's own count.
    """
    for task in plan.tasks:
        part = task.read()
        if channels is not None:
            if part.images.shape[-1] not in (1, channels):
                raise UserError(f"image {part.geometry[0].source} has "
                                f"{part.images.shape[-1]} channels; the model takes {channels}")
            part.images = with_channels(part.images, channels)
        yield part
