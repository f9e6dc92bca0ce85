"""Shared helpers: casting inputs, converting predictions, reducing sums, safe ratios."""

from __future__ import annotations

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
    """Raise ValueError for a negative smoothing constant."""
    if smooth < 0:
        raise ValueError(f"smooth must be >= 0, got {smooth}")


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


register = keras.saving.register_keras_serializable(package="keras_seg")
