"""The base class every keras-seg loss derives from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import keras


class PerImageLoss(keras.losses.Loss):
    """A `keras.losses.Loss` that calls a per-image loss function with fixed keyword arguments.

    Subclasses set `fn` (a function `(y_true, y_pred, **kwargs) -> (B,)`) and declare their
    keyword arguments in `__init__`; `get_config` returns them, so a model compiled with the loss
    saves to `.keras` and reloads without `custom_objects`. Reduction over the batch is Keras'
    job, so `sample_weight` of shape (B,) weighs images.

    A per-pixel `sample_weight` (rank >= 3, as DRIVE's field-of-view mask) is an ignore mask
    for a binary loss: pixels of weight 0 are set to a confident, correct background in both
    `y_true` and `y_pred` before the loss is computed, so they add nothing to Dice/IoU/Tversky
    sums or to any error term, and the images are then averaged unweighted. Weights other than 0
    and 1 are treated as 1.
    """

    fn: ClassVar[Callable[..., Any]]

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: str | None = None,
        **fn_kwargs: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn_kwargs = fn_kwargs

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None and len(sample_weight.shape) >= 3:
            y_true, y_pred = ignore_pixels(y_true, y_pred, sample_weight,
                                           bool(self.fn_kwargs.get("from_logits", False)))
            sample_weight = None
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.fn_kwargs}


def ignore_pixels(y_true, y_pred, pixel_weight, from_logits: bool):
    """Set pixels of weight 0 to certain background in truth and (binary) prediction."""
    y_pred = keras.ops.convert_to_tensor(y_pred)
    if y_pred.shape[-1] != 1:
        raise ValueError("per-pixel sample weights are supported for binary losses; use "
                         "dice_ce's ignore_index for multi-class targets")
    shape = keras.ops.shape(y_pred)
    keep = keras.ops.reshape(keras.ops.convert_to_tensor(pixel_weight) > 0, shape)
    y_true = keras.ops.reshape(keras.ops.cast(y_true, y_pred.dtype), shape)
    background = -1e4 if from_logits else 0.0
    return (keras.ops.where(keep, y_true, keras.ops.zeros_like(y_true)),
            keras.ops.where(keep, y_pred, keras.ops.full_like(y_pred, background)))
