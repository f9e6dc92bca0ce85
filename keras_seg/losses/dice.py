"""Soft Dice and log-Dice losses, per image or pooled over the batch."""

from __future__ import annotations

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    check_bool,
    check_smooth,
    per_image_sum,
    pixel_weights,
    register,
    safe_log,
    safe_ratio,
    sigmoid_probabilities,
)


def dice_coefficient(y_true, probs, *, smooth: float, batch: bool, weight=None,
                     keep_last: bool = False):
    """Soft Dice coefficient (2 sum(w p y) + s) / (sum(w p) + sum(w y) + s) of float32 inputs.

    Args:
        y_true: float32 target, shape (B, H, W, C).
        probs: float32 probabilities, same shape.
        smooth: the constant s, added once to numerator and denominator.
        batch: False sums per image; True pools the sums over the batch.
        weight: optional per-pixel weight map broadcastable to `y_true`.
        keep_last: one coefficient per channel (class) instead of summing the channels.

    Returns:
        Shape (B,), or (B, C) with `keep_last=True`. Both masks empty gives 1 (perfect).
    """
    check_smooth(smooth)
    if weight is not None:
        y_true_w, probs_w = y_true * weight, probs * weight
    else:
        y_true_w, probs_w = y_true, probs
    intersection = per_image_sum(probs_w * y_true, batch, keep_last)
    total = per_image_sum(probs_w, batch, keep_last) + per_image_sum(y_true_w, batch, keep_last)
    return safe_ratio(2.0 * intersection + smooth, total + smooth)


def dice(y_true, y_pred, *, from_logits: bool = False, smooth: float = 1.0, batch: bool = False,
         weight=None):
    """Soft Dice loss, one value per image.

    Dice = 1 - (2 sum(p y) + s) / (sum(p) + sum(y) + s)

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: s, default 1.0. An empty truth with an empty prediction scores 0 (perfect).
        batch: False (default) sums each image; True pools the sums over the batch and returns
            that value for every image, as the reference kits do.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), applied to every sum;
            pixels of weight 0 are left out. Default None.

    Returns:
        Float32 tensor of shape (B,), in [0, 1].

    Reference: Milletari et al., V-Net, 2016; MONAI `DiceLoss`.
    Fixes: the circulating `dice_coef` puts the smoothing as 2*(I + s)/(...+ s), so two empty
    masks give a coefficient of 2 and a loss of -1; and it always pools the batch, with no
    per-image choice.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    return 1.0 - dice_coefficient(y_true, probs, smooth=smooth, batch=batch,
                                  weight=pixel_weights(weight, y_pred))


def log_dice(y_true, y_pred, *, from_logits: bool = False, smooth: float = 1.0,
             batch: bool = False, weight=None):
    """Log-Dice loss, one value per image.

    LogDice = -log((2 sum(p y) + s) / (sum(p) + sum(y) + s))

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: s, default 1.0; the coefficient is clipped at 1e-7 before the log.
        batch: False (default) per-image sums; True sums pooled over the batch.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), applied to every sum;
            pixels of weight 0 are left out. Default None.

    Returns:
        Float32 tensor of shape (B,), >= 0; 0 for a perfect prediction (empty masks included).

    Reference: Wong et al., "3D segmentation with exponential logarithmic loss", MICCAI 2018.
    Fixes: the circulating snippets take the log of the Dice *loss*, which rewards a worse Dice.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    return -safe_log(dice_coefficient(y_true, probs, smooth=smooth, batch=batch,
                                      weight=pixel_weights(weight, y_pred)))


def check_dice_options(from_logits, smooth, batch) -> None:
    """Refuse bad options of a Dice-type loss when it is constructed."""
    check_bool("from_logits", from_logits)
    check_smooth(smooth)
    check_bool("batch", batch)


@register
class DiceLoss(PerImageLoss):
    """Soft Dice loss, see `keras_seg.losses.dice`."""

    fn = staticmethod(dice)

    def __init__(self, smooth: float = 1.0, batch: bool = False, from_logits: bool = False,
                 reduction="sum_over_batch_size", name="dice", dtype=None):
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         smooth=smooth, batch=batch)


@register
class LogDiceLoss(PerImageLoss):
    """Log-Dice loss, see `keras_seg.losses.log_dice`."""

    fn = staticmethod(log_dice)

    def __init__(self, smooth: float = 1.0, batch: bool = False, from_logits: bool = False,
                 reduction="sum_over_batch_size", name="log_dice", dtype=None):
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         smooth=smooth, batch=batch)


dice_loss = DiceLoss()
"""`loss=dice_loss`, or `dice_loss(batch=True)` for a configured `DiceLoss`."""

dice_coef_loss = DiceLoss()
"""The circulating snippet's name for `dice_loss`, with its bugs fixed."""

log_dice_loss = LogDiceLoss()
"""`loss=log_dice_loss`, or `log_dice_loss(smooth=0.5)` for a configured `LogDiceLoss`."""
