"""The two-way callable behind every name of the circulating snippets, and the loss base class.

A user's notebook calls a snippet's name in two ways: passed uncalled, `loss=bce_logdice_loss`,
so Keras calls it as `fn(y_true, y_pred)`; and called with options, `focal_loss(gamma=2.)`,
to get a configured loss. Each such name here is one instance of a registered class mixing in
`TwoWay`: called with data it computes; called with options only it returns a new instance
configured by them, as its class would. Because the name is an object of a registered class (and
not a closure), a model compiled with it saves and reloads.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import keras
from keras import ops

from keras_seg.losses._utils import pixel_weights

OPTION_TYPES = (numbers.Number, str, type(None))
"""Types of a positional argument that make a call an options call (`focal_loss(2.0, 0.25)`)."""


def is_data_call(args: tuple) -> bool:
    """True when the first two positional arguments are data (`y_true`, `y_pred`): arrays,
    tensors or nested lists, not numbers, strings or None."""
    return len(args) >= 2 and not any(isinstance(a, OPTION_TYPES) for a in args[:2])


class TwoWay:
    """Mixin for an object that is both a snippet's function and its factory.

    `obj(y_true, y_pred, *post_args, ...)` computes (see `compute` of the class);
    `obj(*options, **options)` with no data returns `type(obj)(*options, **options)`.

    `post_args` names the options that the circulating snippet takes as extra positional numbers
    after `y_true, y_pred` (the fixed mixedLoss: `mixed_loss(y_true, y_pred, alpha)`).
    """

    post_args: ClassVar[tuple[str, ...]] = ()

    def __call__(self, *args, **kwargs):
        if is_data_call(args):
            return self.compute(*args, **kwargs)
        return type(self)(*args, **kwargs)

    def compute(self, y_true, y_pred, *extra, **kwargs):
        raise NotImplementedError

    def split_post_args(self, extra: tuple) -> tuple[dict[str, Any], tuple]:
        """Options given as the snippet's extra positional numbers, and the arguments left."""
        count = 0
        while (count < min(len(extra), len(self.post_args))
               and isinstance(extra[count], numbers.Number)
               and not isinstance(extra[count], bool)):
            count += 1
        return dict(zip(self.post_args[:count], extra[:count], strict=True)), extra[count:]


class PerImageLoss(TwoWay, keras.losses.Loss):
    """A `keras.losses.Loss` calling a per-image loss function with fixed keyword options.

    Subclasses set `fn` (a function `(y_true, y_pred, *, weight=None, **options) -> (B,)`),
    declare and check their options in `__init__`; `get_config` returns them, so a model
    compiled with the loss saves to `.keras` and reloads once keras_seg is imported. Reduction
    over the batch is Keras' job, so `sample_weight` works as for Keras' own losses: a Python
    number, a list or a tensor of shape (B,) weighs the images.

    A per-pixel `sample_weight` (shape (B, H, W) or (B, H, W, 1), e.g. a field-of-view or padding
    mask) goes to `fn` as its `weight`: each pixel's terms are weighted in every sum and mean
    of the loss, so pixels of weight 0 are left out entirely (of means too), and the images are
    then averaged unweighted.

    Called with data, `loss(y_true, y_pred, sample_weight=None)` is the reduced loss, as for any
    Keras loss; extra positional numbers fill `post_args`, keyword options override the
    instance's for that call (`dice_loss(y, p, smooth=0.0)`).
    """

    fn: ClassVar[Callable[..., Any]]
    pixel_weight = None

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None,
                 dtype: str | None = None, **fn_kwargs: Any) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn_kwargs = fn_kwargs

    def compute(self, y_true, y_pred, *extra, sample_weight=None, **options):
        overrides, rest = self.split_post_args(extra)
        if len(rest) > 1 or (rest and sample_weight is not None):
            raise TypeError(f"{self.name}: too many positional arguments")
        if rest:
            sample_weight = rest[0]  # Keras passes sample_weight as the third argument
        loss = self
        if overrides or options:
            loss = type(self).from_config({**self.get_config(), **overrides, **options})
        if sample_weight is not None:
            sample_weight = ops.convert_to_tensor(sample_weight, "float32")
            if len(sample_weight.shape) >= 3:
                loss = copy.copy(loss)
                loss.pixel_weight = sample_weight
                sample_weight = None
        return keras.losses.Loss.__call__(loss, y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        weight = pixel_weights(self.pixel_weight, y_pred)
        return type(self).fn(y_true, y_pred, weight=weight, **self.fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.fn_kwargs}


class PerImageMetric(TwoWay):
    """A metric function with options: `metrics=[dice_coef]` and `dice_coef(y_true, y_pred)`.

    Keras wraps it in a `keras.metrics.MeanMetricWrapper` named after `name`, which averages the
    per-image values over every image of the epoch. Called with data it returns the per-image
    values, shape (B,). Subclasses set `fn` and check their options in `__init__`.
    """

    fn: ClassVar[Callable[..., Any]]

    def __init__(self, name: str, **fn_kwargs: Any) -> None:
        self.name = name
        self.fn_kwargs = fn_kwargs

    def compute(self, y_true, y_pred, *extra, **options):
        overrides, rest = self.split_post_args(extra)
        if rest:
            raise TypeError(f"{self.name}: too many positional arguments")
        return type(self).fn(y_true, y_pred, **{**self.fn_kwargs, **overrides, **options})

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PerImageMetric:
        return cls(**config)
