"""Data sets: readers for each layout, the shared tf.data pipeline, volume-wise splits.

Each data set is a small module (``lgg``, ``isbi``, ``drive``, ``folder``, ``nifti``,
``synthetic``) whose ``records(data_dir, **options)`` lists the slices on disk and whose
``plan(data_dir, image_size, **options)`` describes how to read them volume by volume
(keras_seg.data.plan). :func:`load` reads a plan into a :class:`SliceSet` (decoded, checked,
normalised, with a per-slice geometry), in memory or through the disk cache;
:func:`iter_volumes` reads it one volume at a time (prediction of mixed-size folders);
``keras_seg.data.pipeline.make_dataset`` then feeds a SliceSet to the model.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator

from keras_seg.data.defaults import dataset_defaults
from keras_seg.data.geometry import Geometry, to_native
from keras_seg.data.plan import Plan, collect
from keras_seg.data.plan import iter_volumes as _iter_plan
from keras_seg.data.records import Record
from keras_seg.data.sliceset import SliceSet
from keras_seg.data.split import choose_val_volumes, kfold_volumes, split_by_volume
from keras_seg.errors import UserError

DATA_NAMES = ("synthetic", "lgg", "isbi", "drive", "folder", "nifti")
CACHE_MODES = ("memory", "disk")

__all__ = ["CACHE_MODES", "DATA_NAMES", "Geometry", "Record", "SliceSet", "choose_val_volumes",
           "dataset_defaults", "iter_volumes", "kfold_volumes", "load", "plan", "records",
           "split_by_volume", "to_native"]


def _reader(name: str):
    if name not in DATA_NAMES:
        raise UserError(f"unknown data set '{name}'; valid names: {', '.join(DATA_NAMES)}")
    return importlib.import_module(f"keras_seg.data.{name}")


def _check_options(name: str, fn, options: dict, fixed: tuple[str, ...]) -> None:
    accepted = [p for p in inspect.signature(fn).parameters if p not in fixed]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UserError(f"data set '{name}' has no option '{unknown[0]}'; valid options: "
                        f"{', '.join(accepted) or 'none'}")


def plan(name: str, data_dir: str | None = None, image_size: int | None = None,
         seed: int = 0, **options) -> Plan:
    """The reading plan of data set ``name`` (arguments as :func:`load`); reads no pixels."""
    module = _reader(name)
    if name == "synthetic":
        _check_options(name, module.plan, options, ("data_dir", "image_size", "seed"))
        return module.plan(data_dir, image_size, seed, **options)
    _check_options(name, module.plan, options, ("data_dir", "image_size"))
    return module.plan(data_dir, image_size, **options)


def load(name: str, data_dir: str | None = None, image_size: int | None = None,
         seed: int = 0, *, cache: str = "memory", cache_dir: str | None = None,
         verbose: int = 1, **options) -> SliceSet:
    """Load data set ``name`` as a SliceSet.

    Args:
        name: one of :data:`DATA_NAMES`.
        data_dir: the data set's folder (None for ``synthetic``).
        image_size: side the slices are resized to, or of the training patches for data sets
            read at native size (DRIVE); None keeps the native size.
        seed: seed of generated data (``synthetic``); the readers are deterministic.
        cache: ``"memory"`` (default): every slice decoded into RAM; ``"disk"``: decoded once
            into an on-disk cache (keras_seg.data.cache) and read back lazily, so memory does
            not grow with the data set.
        cache_dir: folder of the disk cache (default: keras_seg.data.cache.default_cache_dir).
        verbose: 1 shows progress while reading large sets, 0 is silent.
        **options: the reader's options (config ``data.options``), e.g. ``lgg``:
            ``crop_to_brain``; ``isbi``: ``subset``, ``foreground``, ``sections_per_volume``;
            ``drive``: ``subset``, ``manual``; ``folder``: ``image_dir``, ``mask_dir``,
            ``mask_suffix``; ``nifti``: see keras_seg.data.nifti; every file reader: ``fit``
            (``resize`` | ``patch``).
    """
    if cache not in CACHE_MODES:
        raise UserError(f"unknown data.cache '{str(cache)[:40]}'; valid: "
                        f"{', '.join(CACHE_MODES)}")
    reading = plan(name, data_dir, image_size, seed, **options)
    if cache == "disk":
        from keras_seg.data import cache as disk_cache

        return disk_cache.load(reading, cache_dir, verbose=verbose)
    return collect(reading, verbose=verbose)


def iter_volumes(name: str, data_dir: str | None = None, image_size: int | None = None,
                 seed: int = 0, *, channels: int | None = None, **options
                 ) -> Iterator[SliceSet]:
    """Read data set ``name`` one volume at a time, each at its own size (see :func:`load`).

    With ``image_size=None`` a folder of differently sized images loads (each image is its own
    volume); each yielded SliceSet carries ``geometry`` per slice for
    :func:`keras_seg.data.to_native`. ``channels`` repeats grey volumes to the model's channel
    count.
    """
    return _iter_plan(plan(name, data_dir, image_size, seed, **options), channels)


def records(name: str, data_dir: str, **options) -> list[Record]:
    """The slices of data set ``name`` on disk, without reading them (see each reader)."""
    module = _reader(name)
    if name == "synthetic":
        raise UserError("the synthetic data set is generated in memory and has no files")
    _check_options(name, module.records, options, ("data_dir",))
    return module.records(data_dir, **options)
