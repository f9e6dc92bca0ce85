"""Which volumes a model trained on (``train``), validated on (``val``), or never saw (``unseen``).

A training run's ``config.yaml`` names its data set (``data.name``, ``data.dir``,
``data.options``) and its validation volumes (``data.val_volume_ids``). A predicted volume
belongs to that run's data when it comes from the same source: the same data set, the same
folder and the same reader options that choose the files and group them into volumes (the
options of the reader's ``records``, e.g. ISBI's ``subset`` and ``sections_per_volume``; for
the synthetic set, all its options). Of those, the validation volumes are ``val`` and the others
``train``; every other volume is ``unseen``.
"""

from __future__ import annotations

import importlib
import inspect
import os

SPLITS = ("train", "val", "unseen")
SPLIT_CHOICES = ("all", *SPLITS)


def _source_options(name: str, options: dict) -> dict:
    """The options that choose a data set's volumes, with the reader's defaults filled in."""
    try:
        module = importlib.import_module(f"keras_seg.data.{name}")
    except ImportError:
        return dict(options)
    fn = module.load if name == "synthetic" else module.records
    params = inspect.signature(fn).parameters
    fixed = ("data_dir", "image_size", "seed")
    return {key: options.get(key, p.default) for key, p in params.items()
            if key not in fixed and p.default is not inspect.Parameter.empty}


def _folder(path: str | None) -> str | None:
    return None if path is None else os.path.realpath(path)


def same_source(trained: dict, source: dict) -> bool:
    """Whether ``source`` (``{"name", "dir", "options"}``) reads the run's volumes."""
    if not trained or trained.get("name") != source["name"]:
        return False
    return (_folder(trained.get("dir")) == _folder(source.get("dir"))
            and _source_options(source["name"], trained.get("options") or {})
            == _source_options(source["name"], source.get("options") or {}))


def volume_splits(run_data: dict, source: dict, volumes: list[str]) -> dict[str, str]:
    """``{volume: "train" | "val" | "unseen"}`` for the predicted ``volumes``.

    Args:
        run_data: the ``data`` section of the run's config.yaml ({} without a run).
        source: the predicted data set, ``{"name", "dir", "options"}``.
        volumes: the predicted volume ids.
    """
    if not same_source(run_data, source):
        return {v: "unseen" for v in volumes}
    val = {str(v) for v in run_data.get("val_volume_ids") or []}
    return {v: "val" if v in val else "train" for v in volumes}
