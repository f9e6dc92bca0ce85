"""The disk cache (``data.cache: disk``): decode once, then read slices from disk as needed.

For data sets larger than memory. Each volume of a reader's plan is decoded, checked and
normalised once and stored as raw arrays in its own entry, under
``<cache_dir>/<volume identity>/<content key>/``:

- ``images.bin`` float32, ``masks.bin`` uint8 and ``weights.bin`` float32 rows of (H, W, C);
- ``meta.json``: shapes, ids, names, geometry, and for the pipeline each slice's "has foreground"
  flag and up to ``FOREGROUND_SAMPLES`` foreground pixel positions (patch centring).

The *identity* hashes the reader's options, the volume id and its file paths; the *key* hashes
the identity and every file's content. Content digests are remembered per file with its size and
modification time (``digests.json``), so unchanged files are not read again, and a file whose
size or time changed is hashed anew: an edited file gives a new key, its volume is decoded again
and the stale entry of that volume is deleted. A later run or ``predict`` with the same files and
options reuses the entries without decoding anything.

:func:`load` returns a SliceSet whose ``images``, ``masks`` and ``weights`` are
:class:`DiskArray` s: lazy row views that read only the rows asked for (``os.pread``, no memory
map, so resident memory stays bounded by what the pipeline holds: batches in flight and
prefetch). keras_seg.data.pipeline.make_dataset reads them batch by batch in parallel.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence

import numpy as np

from keras_seg import progress
from keras_seg.data.geometry import Geometry
from keras_seg.data.plan import PROGRESS_MIN_FILES, Plan, VolumeTask, check_patch_size
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

FORMAT = 1  # bump when the entry layout or a reader's output changes meaning
FOREGROUND_SAMPLES = 512  # foreground positions kept per slice (in memory while training)
_DIGESTS = "digests.json"


def default_cache_dir() -> str:
    """``$KERAS_SEG_CACHE``, else ``~/.cache/keras_seg``."""
    return os.environ.get("KERAS_SEG_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "keras_seg")


class DiskArray:
    """A lazy (N, H, W, C) array whose rows live in raw files of cache entries.

    Indexing with a slice or an index array gives another DiskArray (no reading); an integer
    index, :meth:`read` or ``np.asarray`` read rows. One-channel rows are repeated to
    ``channels`` on reading (grey volumes of a colour set).

    Attributes:
        positive: (N,) bool per row (masks only): the slice has foreground of non-zero weight.
        fg: ``(positions, start, count)`` foreground samples per row (masks only), as
            keras_seg.data.pipeline.foreground_positions returns them.
    """

    def __init__(self, files: Sequence[str], segment: np.ndarray, row: np.ndarray,
                 row_shapes: Sequence[tuple[int, ...]], dtype, channels: int,
                 positive: np.ndarray | None = None, fg: tuple | None = None) -> None:
        self.files, self.row_shapes = list(files), [tuple(s) for s in row_shapes]
        self.segment, self.row = np.asarray(segment, np.int64), np.asarray(row, np.int64)
        self.dtype, self.channels = np.dtype(dtype), channels
        self.positive, self.fg = positive, fg

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.row), *self.row_shapes[0][:2], self.channels)

    @property
    def ndim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.row)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self.read([int(index)])[0]
        index = np.arange(len(self))[index]
        fg = None
        if self.fg is not None:
            positions, start, count = self.fg
            fg = (positions, start[index], count[index])
        return DiskArray(self.files, self.segment[index], self.row[index], self.row_shapes,
                         self.dtype, self.channels,
                         None if self.positive is None else self.positive[index], fg)

    def read(self, rows) -> np.ndarray:
        """The rows at ``rows`` (positions in this view), as one array."""
        rows = np.asarray(rows, np.int64).reshape(-1)
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        for i, r in enumerate(rows):
            seg = int(self.segment[r])
            shape = self.row_shapes[seg]
            size = int(np.prod(shape)) * self.dtype.itemsize
            fd = os.open(self.files[seg], os.O_RDONLY)
            try:
                raw = os.pread(fd, size, int(self.row[r]) * size)
            finally:
                os.close(fd)
            if len(raw) != size:
                raise UserError(f"cache file {self.files[seg]} is truncated; delete the cache "
                                "folder and run again")
            out[i] = np.frombuffer(raw, self.dtype).reshape(shape)  # broadcasts 1 -> C
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)


def is_lazy(array) -> bool:
    """True for a :class:`DiskArray` (rows on disk), False for a numpy array."""
    return isinstance(array, DiskArray)


class _Digests:
    """Content digests of files, remembered with their size and modification time."""

    def __init__(self, cache_dir: str) -> None:
        self.path = os.path.join(cache_dir, _DIGESTS)
        try:
            with open(self.path, encoding="utf-8") as f:
                self.known = json.load(f)
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def __call__(self, path: str) -> str:
        path = os.path.abspath(path)
        try:
            st = os.stat(path)
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror}") from None
        stamp = [st.st_size, st.st_mtime_ns]
        entry = self.known.get(path)
        if entry and entry[:2] == stamp:
            return entry[2]
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        self.known[path] = [*stamp, digest.hexdigest()]
        self.changed = True
        return digest.hexdigest()

    def save(self) -> None:
        if self.changed:
            _atomic_json(self.path, self.known)


def _atomic_json(path: str, content) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(content, f)
    os.replace(tmp, path)


def _hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _positive_and_fg(masks: np.ndarray | None, weights: np.ndarray | None):
    if masks is None:
        return None, None
    fg = masks > 0
    if weights is not None:
        fg &= weights > 0
    rng = np.random.default_rng(0)
    samples = []
    for m in fg.reshape(len(fg), -1):
        where = np.flatnonzero(m)
        samples.append(np.sort(rng.choice(where, FOREGROUND_SAMPLES, replace=False))
                       if len(where) > FOREGROUND_SAMPLES else where)
    return [bool(len(s)) for s in samples], samples


def _write_entry(path: str, part: SliceSet) -> None:
    """Write one volume's arrays and metadata into a new entry folder ``path`` (atomically)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(path), prefix=".building-")
    try:
        for field in ("images", "masks", "weights"):
            array = getattr(part, field)
            if array is not None:
                np.ascontiguousarray(array).tofile(os.path.join(tmp, f"{field}.bin"))
        positive, samples = _positive_and_fg(part.masks, part.weights)
        if samples is not None:
            np.concatenate(samples + [np.zeros(0, np.int64)]).astype(np.int64).tofile(
                os.path.join(tmp, "fg.bin"))
        meta = {
            "images": list(part.images.shape), "masks": part.masks is not None,
            "weights": part.weights is not None,
            "volume_ids": part.volume_ids.tolist(), "slice_index": part.slice_index.tolist(),
            "names": part.names.tolist(),
            "geometry": None if part.geometry is None
            else [dataclasses.asdict(g) for g in part.geometry],
            "positive": positive,
            "fg_count": None if samples is None else [len(s) for s in samples],
        }
        with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _geometry(record: dict) -> Geometry:
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
    return Geometry(**fields)


def _entry(task: VolumeTask, plan: Plan, cache_dir: str, digests: _Digests) -> tuple[str, bool]:
    """(entry folder, whether it must be built) of one volume; removes its stale entries."""
    paths = [os.path.abspath(p) for p in task.files]
    identity = _hash(FORMAT, plan.options, task.volume_id, paths)
    key = _hash(identity, [digests(p) for p in paths])
    folder = os.path.join(cache_dir, identity)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name != key and not name.startswith("."):
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    path = os.path.join(folder, key)
    return path, not os.path.isfile(os.path.join(path, "meta.json"))


def build(plan: Plan, cache_dir: str | None = None, verbose: int = 1) -> list[str]:
    """Make sure every volume of ``plan`` has a current cache entry; return the entry folders.

    Volumes are read one at a time, so memory holds one volume.
    """
    cache_dir = os.path.abspath(os.path.expanduser(cache_dir or default_cache_dir()))
    try:
        os.makedirs(cache_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the data cache {cache_dir}: {e.strerror}") from None
    digests = _Digests(cache_dir)
    entries, todo = [], []
    for task in plan.tasks:
        path, missing = _entry(task, plan, cache_dir, digests)
        entries.append(path)
        if missing:
            todo.append((task, path))
    digests.save()
    files = sum(len(t.files) for t, _ in todo)
    bar = progress.Progress(files or len(todo), "caching", unit="file" if files else "volume",
                            verbose=verbose if files >= PROGRESS_MIN_FILES else 0)
    for task, path in todo:
        try:
            _write_entry(path, task.read())
        except OSError as e:
            raise UserError(f"cannot write the data cache {cache_dir}: {e.strerror}") from None
        bar.add(len(task.files) or 1)
    bar.close()
    return entries


def open_entries(entries: Sequence[str], patch_size: int | None = None) -> SliceSet:
    """A SliceSet of :class:`DiskArray` s over the given cache entries, in order."""
    metas = []
    for path in entries:
        with open(os.path.join(path, "meta.json"), encoding="utf-8") as f:
            metas.append(json.load(f))
    shapes = [tuple(m["images"]) for m in metas]
    first = shapes[0][1:3]
    for meta, shape in zip(metas, shapes, strict=True):
        if shape[1:3] != first:
            raise UserError(f"cached volume {meta['volume_ids'][0]} is "
                            f"{shape[2]}x{shape[1]} but the first is {first[1]}x{first[0]}; "
                            "set --image-size to resize them")
    channels = max(s[3] for s in shapes)
    segment = np.concatenate([np.full(s[0], i) for i, s in enumerate(shapes)])
    row = np.concatenate([np.arange(s[0]) for s in shapes])

    def lazy(field, dtype, channel_of, **extra):
        if field != "images" and not metas[0][field]:
            return None
        return DiskArray([os.path.join(p, f"{field}.bin") for p in entries], segment, row,
                         [(s[1], s[2], channel_of(s)) for s in shapes], dtype,
                         channels if field == "images" else 1, **extra)

    positive = fg = None
    if metas[0]["masks"]:
        positive = np.concatenate([np.asarray(m["positive"], bool) for m in metas])
        counts = np.concatenate([np.asarray(m["fg_count"], np.int64) for m in metas])
        positions = np.concatenate(
            [np.fromfile(os.path.join(p, "fg.bin"), np.int64) for p in entries]
            + [np.zeros(1, np.int64)])
        start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        fg = (positions, start, counts)
    geometry = None
    if metas[0]["geometry"] is not None:
        geometry = [_geometry(g) for m in metas for g in m["geometry"]]
    data = SliceSet(
        images=lazy("images", np.float32, lambda s: s[3]),
        masks=lazy("masks", np.uint8, lambda s: 1, positive=positive, fg=fg),
        volume_ids=np.concatenate([m["volume_ids"] for m in metas]),
        slice_index=np.concatenate([m["slice_index"] for m in metas]),
        weights=lazy("weights", np.float32, lambda s: 1),
        names=np.concatenate([m["names"] for m in metas]),
        patch_size=patch_size, geometry=geometry)
    check_patch_size(patch_size, data.images.shape)
    return data


def load(plan: Plan, cache_dir: str | None = None, verbose: int = 1) -> SliceSet:
    """Build what is missing from the cache, then open the whole plan lazily (see the module)."""
    return open_entries(build(plan, cache_dir, verbose), plan.patch_size)
