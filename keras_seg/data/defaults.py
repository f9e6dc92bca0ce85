"""Per-data-set defaults: the config values that suit each data set better than generic ones.

The generic defaults suit any data set of files: the validation set is a fraction (20 %) of the
volumes, at least one volume on each side (so 2- and 3-volume sets split 1/1 and 2/1), 32 filters,
256-pixel slices. Only the synthetic job, sized for a 2-core CPU, uses 16 filters, 128 pixels and
4 validation volumes of its 24. The lead's config layer stacks: schema defaults <
``dataset_defaults(name)`` < config file < flags.
"""

from __future__ import annotations

import copy

from keras_seg.errors import UserError

VAL_FRACTION = 0.2

_GENERIC: dict = {"model": {"filters": 32}, "data": {"image_size": 256,
                                                     "val_volumes": VAL_FRACTION}}

_SPECIFIC: dict[str, dict] = {
    "synthetic": {"model": {"filters": 16}, "data": {"image_size": 128, "val_volumes": 4}},
    "lgg": {},
    # ISBI sections are 512x512: keep the tutorial's full resolution.
    "isbi": {"data": {"image_size": 512}},
    # DRIVE trains on 480-pixel patches of the 584x565 photographs, 4 per batch.
    "drive": {"data": {"image_size": 480}, "training": {"batch_size": 4}},
    "folder": {},
    # MRI/CT slices are mostly 240x240 (BraTS) to 512x512 (CT); 256 is a fair generic size.
    "nifti": {},
}


def dataset_defaults(name: str) -> dict:
    """Config overrides for data set ``name``: ``{"model": {...}, "data": {...}, ...}``.

    Args:
        name: a data set name (keras_seg.data.DATA_NAMES).

    Returns:
        A new nested dict of the sections ``model``, ``data`` and, where it differs,
        ``training``; merge it over the schema defaults and under the user's config.
    """
    if name not in _SPECIFIC:
        raise UserError(f"unknown data set '{name}'; valid names: {', '.join(_SPECIFIC)}")
    out = copy.deepcopy(_GENERIC)
    for section, values in _SPECIFIC[name].items():
        out.setdefault(section, {}).update(copy.deepcopy(values))
    return out
