"""Losses weighted by a border map that emphasises pixels near object edges.

The weight map of a 0/1 mask y of size H x W is

    a = avgpool_k(y)                      (k x k window, stride 1, 'same' padding)
    w = 5 exp(-5 |a - 0.5|)
    w = w * (H W) / sum(w)                (per image, so the total weight stays H W)

with k = round(min(H, W) * 50 / 512), made odd, at least 3 (25 at 256, 51 at 512). Near an edge
a is close to 0.5 and w close to 5; far inside or outside an object w = 5 exp(-2.5) ~ 0.41, before
renormalisation. The padding is left out of the averages.
"""

from __future__ import annotations

from keras import ops

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    per_image_sum,
    register,
    sigmoid_probabilities,
    static_spatial_size,
)
from keras_seg.losses.bce import bce_map
from keras_seg.losses.dice import dice_coefficient

WINDOW_FRACTION = 50 / 512
"""The reference kit's 50-pixel window on 512-pixel images, as a fraction of the image side."""


def border_window(height: int, width: int) -> int:
    """Odd averaging window for an image of this size: round(min(H, W) * 50/512), odd, >= 3."""
    size = round(min(height, width) * WINDOW_FRACTION)
    if size % 2 == 0:
        size += 1
    return max(size, 3)


def border_weights(y_true, window: int | None = None):
    """Border weight map of a float32 mask of shape (B, H, W, 1); see the module docstring.

    Args:
        y_true: float32 0/1 mask, shape (B, H, W, 1).
        window: odd averaging window; None (default) scales it to the image size.

    Returns:
        Float32 tensor of shape (B, H, W, 1), mean 1 over each image, without gradient.
    """
    if window is None:
        window = border_window(*static_spatial_size(y_true))
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    averaged = y_true
    for pool_size in ((window, 1), (1, window)):  # separable: the k x k mean in 2k operations
        averaged = ops.average_pool(averaged, pool_size, strides=1, padding="same",
                                    data_format="channels_last")
    weight = 5.0 * ops.exp(-5.0 * ops.abs(averaged - 0.5))
    return ops.stop_gradient(weight / ops.mean(weight, axis=(1, 2, 3), keepdims=True))


def weighted_bce_map(y_true, y_pred, weight, from_logits: bool):
    """Per-image weighted mean sum(w BCE) / sum(w) of float32 inputs; shape (B,)."""
    cross_entropy = bce_map(y_true, y_pred, from_logits)
    return per_image_sum(weight * cross_entropy, False) / per_image_sum(weight, False)


def weighted_dice(y_true, y_pred, *, window: int | None = None, weight=None,
                  from_logits: bool = False, smooth: float = 1.0, batch: bool = False):
    """Soft Dice loss with a per-pixel weight map, one value per image.

    L = 1 - (2 sum(w p y) + s) / (sum(w p) + sum(w y) + s), w the border map (module docstring).

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        window: odd averaging window of the border map; None (default) scales it to the image.
        weight: an explicit weight map broadcastable to (B, H, W, 1) instead of the border map.
            Default None.
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: s, default 1.0. An empty truth with an empty prediction scores 0 (perfect).
        batch: False (default) per-image sums; True sums pooled over the batch.

    Returns:
        Float32 tensor of shape (B,), in [0, 1].

    Reference: the Kaggle Carvana `weighted_dice_loss` recipe.
    Fixes: the circulating snippet sums the loss over the batch instead of averaging it (and
    squares the weight map; this one uses w itself).
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    if weight is None:
        weight = border_weights(y_true, window)
    probs = sigmoid_probabilities(y_pred, from_logits)
    return 1.0 - dice_coefficient(y_true, probs, smooth=smooth, batch=batch,
                                  weight=ops.cast(weight, "float32"))


def weighted_bce(y_true, y_pred, *, window: int | None = None, weight=None,
                 from_logits: bool = False):
    """Binary cross-entropy with a per-pixel weight map, one value per image.

    L = sum(w BCE) / sum(w), w the border map (module docstring).

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        window: odd averaging window of the border map; None (default) scales it to the image.
        weight: an explicit non-negative weight map broadcastable to (B, H, W, 1) instead of the
            border map. Default None.
        from_logits: whether `y_pred` holds logits. Default False.

    Returns:
        Float32 tensor of shape (B,).

    Reference: the Kaggle Carvana `weighted_bce_loss` recipe.
    Fixes: the circulating snippet divides the batch's summed loss by the batch's summed weight;
    this one normalises each image and leaves the batch mean to Keras.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    if weight is None:
        weight = border_weights(y_true, window)
    weight = ops.cast(weight, "float32") + ops.zeros_like(y_true)
    return weighted_bce_map(y_true, y_pred, weight, from_logits)


def weighted_bce_dice(y_true, y_pred, *, window: int | None = None, from_logits: bool = False,
                      smooth: float = 1.0, batch: bool = False):
    """Border-weighted BCE plus border-weighted Dice loss, one value per image.

    L = sum(w BCE) / sum(w) + 1 - (2 sum(w p y) + s) / (sum(w p) + sum(w y) + s), w the border map.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        window: odd averaging window of the border map; None (default) scales it to the image
            (25 at 256 pixels, 51 at 512).
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: Dice smoothing s. Default 1.0.
        batch: False (default) per-image Dice sums; True Dice sums pooled over the batch (the
            BCE term stays per image).

    Returns:
        Float32 tensor of shape (B,).

    Reference: the Kaggle Carvana `weighted_bce_dice_loss` recipe.
    Fixes: the circulating snippet pools with an even 50-pixel kernel although its own comment says
    it must be odd (a half-pixel shift of the map), whatever the image size, through `K.pool2d`,
    which no longer exists; this one uses an odd window scaled to the image and `keras.ops`.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    weight = border_weights(y_true, window)
    probs = sigmoid_probabilities(y_pred, from_logits)
    dice_term = 1.0 - dice_coefficient(y_true, probs, smooth=smooth, batch=batch, weight=weight)
    return weighted_bce_map(y_true, y_pred, weight, from_logits) + dice_term


@register
class WeightedDiceLoss(PerImageLoss):
    """Border-weighted soft Dice loss, see `losses.weighted_dice`."""

    fn = staticmethod(weighted_dice)

    def __init__(self, window: int | None = None, from_logits: bool = False, smooth: float = 1.0,
                 batch: bool = False, reduction="sum_over_batch_size", name="weighted_dice",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, window=window,
                         from_logits=from_logits, smooth=smooth, batch=batch)


@register
class WeightedBCELoss(PerImageLoss):
    """Border-weighted binary cross-entropy, see `losses.weighted_bce`."""

    fn = staticmethod(weighted_bce)

    def __init__(self, window: int | None = None, from_logits: bool = False,
                 reduction="sum_over_batch_size", name="weighted_bce", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, window=window,
                         from_logits=from_logits)


@register
class WeightedBCEDiceLoss(PerImageLoss):
    """Border-weighted BCE + Dice, see `losses.weighted_bce_dice`."""

    fn = staticmethod(weighted_bce_dice)

    def __init__(self, window: int | None = None, from_logits: bool = False, smooth: float = 1.0,
                 batch: bool = False, reduction="sum_over_batch_size", name="weighted_bce_dice",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, window=window,
                         from_logits=from_logits, smooth=smooth, batch=batch)


def weighted_dice_loss(window: int | None = None, batch: bool = False,
                       **kwargs) -> WeightedDiceLoss:
    """Return a configured `WeightedDiceLoss`."""
    return WeightedDiceLoss(window=window, batch=batch, **kwargs)


def weighted_bce_loss(window: int | None = None, **kwargs) -> WeightedBCELoss:
    """Return a configured `WeightedBCELoss`."""
    return WeightedBCELoss(window=window, **kwargs)


def weighted_bce_dice_loss(window: int | None = None, batch: bool = False,
                           **kwargs) -> WeightedBCEDiceLoss:
    """Return a configured `WeightedBCEDiceLoss`."""
    return WeightedBCEDiceLoss(window=window, batch=batch, **kwargs)
