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

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.fn_kwargs}
