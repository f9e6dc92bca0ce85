"""Shared helpers: casting inputs, converting predictions, pixel weights, sums, option checks."""

from __future__ import annotations

import numbers

import keras
from keras import ops

EPSILON = 1e-7
"""Probabilities are clipped to [EPSILON, 1 - EPSILON] before a log, so log(0) never happens."""


def binary_inputs(y_true, y_pred):
    """Cast a binary target and prediction to float32 and give them the same rank.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W), any numeric or bool dtype.
        y_pred: prediction, shape (B, H, W, 1), any float dtype (float16 and bfloat16 included).

    Returns:
        `(y_true, y_pred)`, both float32 with the shape of `y_pred`.
    """
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    if len(y_true.shape) == len(y_pred.shape) - 1:
        y_true = ops.expand_dims(y_true, -1)
    elif len(y_true.shape) == len(y_pred.shape) + 1:
        y_true = ops.squeeze(y_true, -1)
    return y_true, y_pred


def sigmoid_probabilities(y_pred, from_logits: bool):
    """Return probabilities in [0, 1] from a binary prediction (probabilities or logits)."""
    return ops.sigmoid(y_pred) if from_logits else ops.clip(y_pred, 0.0, 1.0)


def clip_probabilities(p):
    """Clip probabilities to [EPSILON, 1 - EPSILON]."""
    return ops.clip(p, EPSILON, 1.0 - EPSILON)


def per_image_sum(x, batch: bool, keep_last: bool = False):
    """Sum `x` over each image, or over the whole batch.

    Args:
        x: tensor of shape (B, H, W, C).
        batch: False sums each image separately; True sums over the batch and returns that total
            for every image.
        keep_last: keep the last (class) axis instead of summing it.

    Returns:
        Shape (B,), or (B, C) with `keep_last=True`.
    """
    last = len(x.shape) - 1 if keep_last else len(x.shape)
    sums = ops.sum(x, axis=tuple(range(1, last)))
    if batch:
        sums = ops.sum(sums, axis=0, keepdims=True) + ops.zeros_like(sums)
    return sums


def per_image_mean(x):
    """Mean of `x` over every axis but the first; shape (B,)."""
    return ops.mean(x, axis=tuple(range(1, len(x.shape))))


def pixel_weights(weight, y_pred):
    """A per-pixel weight map as float32 of shape (B, H, W, 1), or None.

    Args:
        weight: None, or weights of shape (B, H, W) or (B, H, W, 1).
        y_pred: the prediction, shape (B, H, W, C).
    """
    if weight is None:
        return None
    weight = ops.cast(weight, "float32")
    if len(weight.shape) == len(y_pred.shape) - 1:
        weight = ops.expand_dims(weight, -1)
    if len(weight.shape) != len(y_pred.shape):
        raise ValueError(f"a per-pixel weight needs shape (B, H, W) or (B, H, W, 1), got "
                         f"{tuple(weight.shape)} for a prediction of shape {tuple(y_pred.shape)}")
    return weight


def weighted_pixel_mean(x, weight):
    """Per-image mean of `x` over its pixels, weighted: sum(w x) / sum(w); shape (B,).

    Pixels of weight 0 are left out of both sums; an image whose weights are all 0 scores 0.
    With `weight=None` it is the plain mean.
    """
    if weight is None:
        return per_image_mean(x)
    weight = weight + ops.zeros_like(x)
    return safe_divide(per_image_sum(weight * x, False), per_image_sum(weight, False))


def safe_divide(numerator, denominator):
    """`numerator / denominator`, and 0 where the denominator is 0 (nothing to average)."""
    nonzero = denominator > 0
    return ops.where(nonzero, numerator / ops.where(nonzero, denominator, 1.0), 0.0)


def keep_weighted(y_true, y_pred, weight, background: float):
    """Truth 0 and prediction `background` where `weight` is 0, so those pixels count as certain,
    correct background; unchanged elsewhere. With `weight=None`, the inputs unchanged."""
    if weight is None:
        return y_true, y_pred
    keep = (weight + ops.zeros_like(y_pred)) > 0
    return (ops.where(keep, y_true, 0.0), ops.where(keep, y_pred, background))


def safe_ratio(numerator, denominator):
    """`numerator / denominator`, and 1 where the denominator is 0 (both masks empty: perfect).

    Gradients stay finite: the division never sees a zero denominator.
    """
    nonzero = denominator > 0
    return ops.where(nonzero, numerator / ops.where(nonzero, denominator, 1.0), 1.0)


def safe_log(x):
    """Natural log of `x` clipped below at EPSILON."""
    return ops.log(ops.maximum(x, EPSILON))


def check_smooth(smooth: float) -> None:
    """Raise ValueError for a smoothing constant that is not a number >= 0."""
    check_number("smooth", smooth, low=0.0)


def check_number(name: str, value, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, allow_none: bool = False) -> None:
    """Raise for a `value` that is not a real number in [low, high] (or (low, high] if open).

    Raises:
        TypeError: not a number (bools are refused too).
        ValueError: outside the range.
    """
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number{' or None' if allow_none else ''}, "
                        f"got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")


def check_bool(name: str, value) -> None:
    """Raise TypeError for a `value` that is not True or False."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_window(window) -> None:
    """Raise for a border window that is neither None nor a positive odd integer."""
    if window is None:
        return
    if isinstance(window, bool) or not isinstance(window, numbers.Integral):
        raise TypeError(f"window must be a positive odd integer or None, got {window!r}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")


def flatten_images(x):
    """Reshape (B, ...) to (B, N), one row per image."""
    return ops.reshape(x, (ops.shape(x)[0], -1))


def logits_from_probabilities(p):
    """Logit of probabilities clipped to [EPSILON, 1 - EPSILON], so the result is finite."""
    p = clip_probabilities(p)
    return ops.log(p) - ops.log1p(-p)


def static_spatial_size(x) -> tuple[int, int]:
    """Return (H, W) of a (B, H, W, C) tensor; ValueError when they are not known statically."""
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(
            "the image size must be known when the loss is traced; pass an explicit window"
        )
    return int(height), int(width)


PACKAGE = "keras_seg"
"""The package name of every registered object: Keras saves it as `keras_seg>ClassName`."""


def register(obj):
    """Register a class with Keras under `keras_seg>Name` and give it its public module.

    The public module (`keras_seg.losses`) is what Keras writes into a saved model's config, so a
    user who loads the model without importing keras-seg reads in Keras' error which package to
    import; it also keeps saved configs independent of how the package is split into files.
    """
    obj.__module__ = "keras_seg.losses"
    return keras.saving.register_keras_serializable(package=PACKAGE)(obj)


def register_alias(name: str, obj) -> None:
    """Also resolve `keras_seg>name` to `obj` when loading: names used by older saved models."""
    keras.saving.get_custom_objects()[f"{PACKAGE}>{name}"] = obj
