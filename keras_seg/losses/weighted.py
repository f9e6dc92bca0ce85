"""Losses weighted by a border map that emphasises pixels near object edges.

The weight map of a 0/1 mask y of size H x W is

    a = avgpool_k(y)                      (k x k window, stride 1, 'same' padding)
    w = 5 exp(-5 |a - 0.5|)
    w = w * (H W) / sum(w)                (per image, so the total weight stays H W)

with k = round(min(H, W) * 50 / 512), made odd, at least 3 (25 at 256, 51 at 512). Near an edge
a is close to 0.5 and w close to 5; far inside or outside an object w = 5 exp(-2.5) ~ 0.41, before
renormalisation. The padding is left out of the averages.

A per-pixel `weight` (e.g. a field-of-view mask, or Keras' per-pixel `sample_weight`) multiplies
the map, so pixels of weight 0 drop out; the map itself is computed with the truth of those
pixels set to background, so what lies there changes nothing.
"""

from __future__ import annotations

from keras import ops

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    check_bool,
    check_window,
    pixel_weights,
    register,
    sigmoid_probabilities,
    static_spatial_size,
    weighted_pixel_mean,
)
from keras_seg.losses.bce import bce_map
from keras_seg.losses.dice import check_dice_options, dice_coefficient

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
    check_window(window)
    averaged = y_true
    for pool_size in ((window, 1), (1, window)):  # separable: the k x k mean in 2k operations
        averaged = ops.average_pool(averaged, pool_size, strides=1, padding="same",
                                    data_format="channels_last")
    weight = 5.0 * ops.exp(-5.0 * ops.abs(averaged - 0.5))
    return ops.stop_gradient(weight / ops.mean(weight, axis=(1, 2, 3), keepdims=True))


def pixel_weight_map(y_true, *, window: int | None, weight_map, weight):
    """The weight w of every weighted loss: (`weight_map` or the border map) times `weight`.

    Args:
        y_true: float32 0/1 mask, shape (B, H, W, 1).
        window: odd averaging window of the border map; None scales it to the image.
        weight_map: a map broadcastable to `y_true` used instead of the border map, or None.
        weight: per-pixel weights of shape (B, H, W, 1), or None.

    Returns:
        Float32 tensor of shape (B, H, W, 1).
    """
    if weight_map is None:
        truth = y_true if weight is None else y_true * ops.cast(weight > 0, "float32")
        weight_map = border_weights(truth, window)
    else:
        weight_map = ops.cast(weight_map, "float32") + ops.zeros_like(y_true)
    return weight_map if weight is None else weight_map * weight


def weighted_dice(y_true, y_pred, *, window: int | None = None, weight_map=None,
                  from_logits: bool = False, smooth: float = 1.0, batch: bool = False,
                  weight=None):
    """Soft Dice loss with a per-pixel weight map, one value per image.

    L = 1 - (2 sum(w p y) + s) / (sum(w p) + sum(w y) + s), w the border map (module docstring)
    times `weight`.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        window: odd averaging window of the border map; None (default) scales it to the image.
        weight_map: a map broadcastable to (B, H, W, 1) to use instead of the border map (the
            `weight` argument of the circulating snippet). Default None.
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: s, default 1.0. An empty truth with an empty prediction scores 0 (perfect).
        batch: False (default) per-image sums; True sums pooled over the batch.
        weight: per-pixel weights multiplying the map, shape (B, H, W) or (B, H, W, 1); pixels of
            weight 0 are left out. Default None.

    Returns:
        Float32 tensor of shape (B,), in [0, 1].

    Reference: the Kaggle Carvana `weighted_dice_loss` recipe.
    Fixes: the circulating snippet sums the loss over the batch instead of averaging it (and
    squares the weight map; this one uses w itself).
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    w = pixel_weight_map(y_true, window=window, weight_map=weight_map,
                         weight=pixel_weights(weight, y_pred))
    probs = sigmoid_probabilities(y_pred, from_logits)
    return 1.0 - dice_coefficient(y_true, probs, smooth=smooth, batch=batch, weight=w)


def weighted_bce(y_true, y_pred, *, window: int | None = None, weight_map=None,
                 from_logits: bool = False, weight=None):
    """Binary cross-entropy with a per-pixel weight map, one value per image.

    L = sum(w BCE) / sum(w), w the border map (module docstring) times `weight`.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        window: odd averaging window of the border map; None (default) scales it to the image.
        weight_map: a non-negative map broadcastable to (B, H, W, 1) to use instead of the
            border map (the `weight` argument of the circulating snippet). Default None.
        from_logits: whether `y_pred` holds logits. Default False.
        weight: per-pixel weights multiplying the map, shape (B, H, W) or (B, H, W, 1); pixels of
            weight 0 are left out. Default None.

    Returns:
        Float32 tensor of shape (B,); 0 for an image whose weights are all 0.

    Reference: the Kaggle Carvana `weighted_bce_loss` recipe.
    Fixes: the circulating snippet divides the batch's summed loss by the batch's summed weight;
    this one normalises each image and leaves the batch mean to Keras.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    w = pixel_weight_map(y_true, window=window, weight_map=weight_map,
                         weight=pixel_weights(weight, y_pred))
    return weighted_pixel_mean(bce_map(y_true, y_pred, from_logits), w)


def weighted_bce_dice(y_true, y_pred, *, window: int | None = None, weight_map=None,
                      from_logits: bool = False, smooth: float = 1.0, batch: bool = False,
                      weight=None):
    """Border-weighted BCE plus border-weighted Dice loss, one value per image.

    L = sum(w BCE) / sum(w) + 1 - (2 sum(w p y) + s) / (sum(w p) + sum(w y) + s), w the border map
    times `weight`.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        window: odd averaging window of the border map; None (default) scales it to the image
            (25 at 256 pixels, 51 at 512).
        weight_map: a map broadcastable to (B, H, W, 1) to use instead of the border map.
            Default None.
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: Dice smoothing s. Default 1.0.
        batch: False (default) per-image Dice sums; True Dice sums pooled over the batch (the
            BCE term stays per image).
        weight: per-pixel weights multiplying the map, shape (B, H, W) or (B, H, W, 1); pixels of
            weight 0 are left out. Default None.

    Returns:
        Float32 tensor of shape (B,).

    Reference: the Kaggle Carvana `weighted_bce_dice_loss` recipe.
    Fixes: the circulating snippet pools with an even 50-pixel kernel although its own comment says
    it must be odd (a half-pixel shift of the map), whatever the image size, through `K.pool2d`,
    which no longer exists; this one uses an odd window scaled to the image and `keras.ops`.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    w = pixel_weight_map(y_true, window=window, weight_map=weight_map,
                         weight=pixel_weights(weight, y_pred))
    probs = sigmoid_probabilities(y_pred, from_logits)
    dice_term = 1.0 - dice_coefficient(y_true, probs, smooth=smooth, batch=batch, weight=w)
    return weighted_pixel_mean(bce_map(y_true, y_pred, from_logits), w) + dice_term


@register
class WeightedDiceLoss(PerImageLoss):
    """Border-weighted soft Dice loss, see `keras_seg.losses.weighted_dice`. A per-pixel
    `sample_weight` (or the snippet's third argument) multiplies the border map."""

    fn = staticmethod(weighted_dice)

    def __init__(self, window: int | None = None, batch: bool = False, from_logits: bool = False,
                 smooth: float = 1.0, reduction="sum_over_batch_size", name="weighted_dice",
                 dtype=None):
        check_window(window)
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, window=window,
                         from_logits=from_logits, smooth=smooth, batch=batch)


@register
class WeightedBCELoss(PerImageLoss):
    """Border-weighted binary cross-entropy, see `keras_seg.losses.weighted_bce`. A per-pixel
    `sample_weight` (or the snippet's third argument) multiplies the border map."""

    fn = staticmethod(weighted_bce)

    def __init__(self, window: int | None = None, from_logits: bool = False,
                 reduction="sum_over_batch_size", name="weighted_bce", dtype=None):
        check_window(window)
        check_bool("from_logits", from_logits)
        super().__init__(reduction=reduction, name=name, dtype=dtype, window=window,
                         from_logits=from_logits)


@register
class WeightedBCEDiceLoss(PerImageLoss):
    """Border-weighted BCE + Dice, see `keras_seg.losses.weighted_bce_dice`. A per-pixel
    `sample_weight` multiplies the border map."""

    fn = staticmethod(weighted_bce_dice)

    def __init__(self, window: int | None = None, batch: bool = False, from_logits: bool = False,
                 smooth: float = 1.0, reduction="sum_over_batch_size", name="weighted_bce_dice",
                 dtype=None):
        check_window(window)
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, window=window,
                         from_logits=from_logits, smooth=smooth, batch=batch)


weighted_dice_loss = WeightedDiceLoss()
"""`loss=weighted_dice_loss`, `weighted_dice_loss(y_true, y_pred, weight)`, or
`weighted_dice_loss(window=25)` for a configured one."""

weighted_bce_loss = WeightedBCELoss()
"""`loss=weighted_bce_loss`, `weighted_bce_loss(y_true, y_pred, weight)`, or
`weighted_bce_loss(window=25)` for a configured one."""

weighted_bce_dice_loss = WeightedBCEDiceLoss()
"""`loss=weighted_bce_dice_loss`, or `weighted_bce_dice_loss(batch=True)` for a configured one."""
