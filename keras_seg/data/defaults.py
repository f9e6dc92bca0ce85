"""Per-data-set defaults: the config values that suit each data set better than generic ones.

The generic defaults suit any data set of files: the validation set is a fraction (20 %) of the
volumes, at least one volume on each side (so 2- and 3-volume sets split 1/1 and 2/1), 32 filters,
256-pixel slices. Only the synthetic job, sized for a 2-core CPU, uses 16 filters, 128 pixels and
4 validation volumes of its 24. A reader module that needs other values declares them as its
``DEFAULTS`` (config sections to override); keras_seg.config stacks: schema defaults <
``dataset_defaults(name)`` < config file < flags.
"""

from __future__ import annotations

import copy
import importlib

from keras_seg.errors import UserError

VAL_FRACTION = 0.2

_GENERIC: dict = {"model": {"filters": 32}, "data": {"image_size": 256,
                                                     "val_volumes": VAL_FRACTION}}

def dataset_defaults(name: str) -> dict:
    """Config overrides for data set ``name``: ``{"model": {...}, "data": {...}, ...}``.

    Args:
        name: a data set name (keras_seg.data.DATA_NAMES).

    Returns:
        A new nested dict of the sections ``model``, ``data`` and, where it differs,
        ``training``; merge it over the schema defaults and under the user's config.
    """
    from keras_seg.data import DATA_NAMES

    if name not in DATA_NAMES:
        raise UserError(f"unknown data set '{name}'; valid names: {', '.join(DATA_NAMES)}")
    out = copy.deepcopy(_GENERIC)
    reader = importlib.import_module(f"keras_seg.data.{name}")
    for section, values in getattr(reader, "DEFAULTS", {}).items():
        out.setdefault(section, {}).update(copy.deepcopy(values))
    return out
