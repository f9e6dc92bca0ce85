"""Slices grouped into volumes: what every data reader produces."""

from __future__ import annotations

import dataclasses

import numpy as np

ALIGNMENT = 64  # bytes: what TensorFlow needs to use a host buffer in place (Eigen's maximum)


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` whose data starts at a multiple of :data:`ALIGNMENT` bytes.

    NumPy aligns large arrays to 16 bytes only; TensorFlow takes a 64-byte aligned, contiguous
    buffer through DLPack without copying it (keras_seg.data.pipeline.host_tensor), so a data
    set in memory is held once, not once by NumPy and once more by TensorFlow.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start: start + size].view(dtype).reshape(shape)


@dataclasses.dataclass
class SliceSet:
    """Decoded, normalised slices with their volume membership.

    Attributes:
        images: float32 (N, H, W, C), already normalised.
        masks: uint8 (N, H, W, 1): 0/1 for binary tasks, class ids for multi-class;
            ``None`` for unlabelled data.
        volume_ids: (N,) str, the volume (patient) each slice belongs to.
        slice_index: (N,) int, position of the slice in its volume (1-based).
        weights: optional float32 (N, H, W, 1) per-pixel weights (0 = ignored pixel).
        names: optional (N,) str, a display name per slice (e.g. the image file stem).
        patch_size: when set, the images keep their native size, training uses random
            patches of this side and evaluation uses whole images padded to the network
            stride (see keras_seg.data.pipeline); None: train on whole images.
        geometry: optional (N,) object array of :class:`keras_seg.data.geometry.Geometry`, one
            per slice: the source file (``geometry[i].source``), the slice's ``(H0, W0)`` in
            it, the crop box, padding and resize the reader applied, the position in a 3D
            source and the pixel spacing in mm. ``keras_seg.data.geometry.to_native(prob,
            geometry[i])`` maps a (h, w, K) prediction of slice i back to the file's grid.
            Every file reader sets it.

    ``images``, ``masks`` and ``weights`` are numpy arrays in memory, or, for a set read through
    the disk cache (keras_seg.data.cache), lazy arrays that read rows from disk when indexed
    with ``np.asarray`` or ``.read``; ``subset`` never reads pixels. To read a data set one
    volume at a time instead (e.g. images of different sizes for prediction), use
    ``keras_seg.data.iter_volumes``.
    """

    images: np.ndarray
    masks: np.ndarray | None
    volume_ids: np.ndarray
    slice_index: np.ndarray
    weights: np.ndarray | None = None
    names: np.ndarray | None = None
    patch_size: int | None = None
    geometry: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.volume_ids = np.asarray(self.volume_ids).astype(str)
        self.slice_index = np.asarray(self.slice_index, dtype=np.int64)
        if self.names is None:
            self.names = np.array([f"{v}_{k}" for v, k in
                                   zip(self.volume_ids, self.slice_index, strict=True)])
        if self.geometry is not None and not isinstance(self.geometry, np.ndarray):
            geometry = np.empty(len(self.geometry), object)
            geometry[:] = list(self.geometry)
            self.geometry = geometry

    def __len__(self) -> int:
        return len(self.images)

    @property
    def volumes(self) -> list[str]:
        """Distinct volume ids in order of first appearance."""
        return list(dict.fromkeys(self.volume_ids.tolist()))

    def subset(self, index: np.ndarray) -> SliceSet:
        """The slices at ``index`` (an int or bool array), as a new SliceSet.

        In-memory pixel arrays are copied into :func:`aligned_empty` arrays, which the
        training pipeline shares with TensorFlow instead of copying them again.
        """
        rows = np.asarray(index)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64).reshape(-1)
        count = len(self.images)
        if rows.size and (rows.max() >= count or rows.min() < -count):
            raise IndexError(f"slice index out of range for {count} slices")

        def take(a):
            if a is None:
                return None
            if isinstance(a, np.ndarray) and a.ndim == 4:
                # mode="wrap" (exact for in-range rows, negatives included) writes straight
                # into ``out``; the default mode="raise" would buffer a whole extra copy
                return np.take(a, rows, axis=0, mode="wrap",
                               out=aligned_empty((len(rows), *a.shape[1:]), a.dtype))
            return a[index]
        return SliceSet(take(self.images), take(self.masks), self.volume_ids[index],
                        self.slice_index[index], take(self.weights), take(self.names),
                        self.patch_size, take(self.geometry))

    def select_volumes(self, volumes) -> SliceSet:
        """The slices of the given volumes, in their original order."""
        return self.subset(np.isin(self.volume_ids, list(volumes)))
