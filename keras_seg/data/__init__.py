"""Data sets: readers for each layout, the shared tf.data pipeline, volume-wise splits.

Each data set is a small module (``lgg``, ``isbi``, ``drive``, ``folder``, ``synthetic``)
whose ``records(data_dir, **options)`` lists the slices on disk and whose ``load(...)`` reads
them, once and eagerly, into a :class:`SliceSet` (decoded, checked, normalised);
``keras_seg.data.pipeline.make_dataset`` then feeds a SliceSet to the model.
"""

from __future__ import annotations

import importlib
import inspect

from keras_seg.data.records import Record
from keras_seg.data.sliceset import SliceSet
from keras_seg.data.split import choose_val_volumes, kfold_volumes, split_by_volume
from keras_seg.errors import UserError

DATA_NAMES = ("synthetic", "lgg", "isbi", "drive", "folder")

__all__ = ["DATA_NAMES", "Record", "SliceSet", "choose_val_volumes", "kfold_volumes", "load",
           "records", "split_by_volume"]


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


def load(name: str, data_dir: str | None = None, image_size: int | None = None,
         seed: int = 0, **options) -> SliceSet:
    """Load data set ``name`` into memory as a SliceSet.

    Args:
        name: one of :data:`DATA_NAMES`.
        data_dir: the data set's folder (None for ``synthetic``).
        image_size: side the slices are resized to, or of the training patches for data sets
            read at native size (DRIVE); None keeps the native size.
        seed: seed of generated data (``synthetic``); the readers are deterministic.
        **options: the reader's options (config ``data.options``), e.g. ``lgg``:
            ``crop_to_brain``; ``isbi``: ``subset``, ``foreground``, ``sections_per_volume``;
            ``drive``: ``subset``, ``manual``; every file reader: ``fit`` (``resize`` | ``patch``).
    """
    module = _reader(name)
    if name == "synthetic":
        _check_options(name, module.load, options, ("data_dir", "image_size", "seed"))
        return module.load(data_dir, image_size, seed, **options)
    _check_options(name, module.load, options, ("data_dir", "image_size"))
    return module.load(data_dir, image_size, **options)


def records(name: str, data_dir: str, **options) -> list[Record]:
    """The slices of data set ``name`` on disk, without reading them (see each reader)."""
    module = _reader(name)
    if name == "synthetic":
        raise UserError("the synthetic data set is generated in memory and has no files")
    _check_options(name, module.records, options, ("data_dir",))
    return module.records(data_dir, **options)
