"""Loss names, as accepted by `losses.get` and by `--loss`."""

from __future__ import annotations

from typing import Any

import keras

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses.bce import BCELoss
from keras_seg.losses.combined import BCEDiceLoss, BCELogDiceLoss, FocalDiceLoss
from keras_seg.losses.dice import DiceLoss, LogDiceLoss
from keras_seg.losses.focal import FocalLoss
from keras_seg.losses.iou import SoftIoULoss
from keras_seg.losses.lovasz import LovaszHingeLoss
from keras_seg.losses.multiclass import DiceCELoss
from keras_seg.losses.tversky import FocalTverskyLoss, TverskyLoss
from keras_seg.losses.weighted import WeightedBCEDiceLoss, WeightedBCELoss, WeightedDiceLoss

LOSSES: dict[str, type[PerImageLoss]] = {
    "bce": BCELoss,
    "dice": DiceLoss,
    "log_dice": LogDiceLoss,
    "bce_dice": BCEDiceLoss,
    "bce_logdice": BCELogDiceLoss,
    "focal": FocalLoss,
    "focal_dice": FocalDiceLoss,
    "weighted_dice": WeightedDiceLoss,
    "weighted_bce": WeightedBCELoss,
    "weighted_bce_dice": WeightedBCEDiceLoss,
    "soft_iou": SoftIoULoss,
    "tversky": TverskyLoss,
    "focal_tversky": FocalTverskyLoss,
    "lovasz_hinge": LovaszHingeLoss,
    "dice_ce": DiceCELoss,
}

NAMES: tuple[str, ...] = tuple(LOSSES)
"""The valid loss names, in documentation order."""


def get(identifier: str | keras.losses.Loss, **kwargs: Any) -> keras.losses.Loss:
    """Return a configured loss by name, or the given `keras.losses.Loss` unchanged.

    Args:
        identifier: one of `NAMES`, or a `keras.losses.Loss` instance.
        **kwargs: constructor arguments of the named loss, e.g. `get("bce_logdice", batch=True)`.

    Returns:
        A `keras.losses.Loss`.

    Raises:
        ValueError: unknown name (one line listing the valid names), or keyword arguments given
            with a loss instance.
        TypeError: an identifier that is neither a string nor a loss, or an unknown keyword.
    """
    if isinstance(identifier, keras.losses.Loss):
        if kwargs:
            raise ValueError(f"cannot apply {sorted(kwargs)} to an existing loss instance")
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"a loss is a name or a keras.losses.Loss, got {identifier!r}")
    if identifier not in LOSSES:
        raise ValueError(f"unknown loss {identifier!r}; valid names: {', '.join(NAMES)}")
    return LOSSES[identifier](**kwargs)
