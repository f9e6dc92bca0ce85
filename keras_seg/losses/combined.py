"""Sums of a pixel-wise loss and a Dice term: BCE + Dice, BCE - log Dice, focal - log Dice."""

from __future__ import annotations

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    check_number,
    pixel_weights,
    register,
    safe_log,
    sigmoid_probabilities,
    weighted_pixel_mean,
)
from keras_seg.losses.bce import bce_map
from keras_seg.losses.dice import check_dice_options, dice_coefficient
from keras_seg.losses.focal import check_focal_args, focal_map


def bce_dice(y_true, y_pred, *, bce_weight: float = 0.5, from_logits: bool = False,
             smooth: float = 1.0, batch: bool = False, weight=None):
    """Weighted sum of binary cross-entropy and soft Dice loss, one value per image.

    L = w BCE + (1 - w) (1 - (2 sum(p y) + s) / (sum(p) + sum(y) + s))

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        bce_weight: w, in [0, 1]. Default 0.5.
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: Dice smoothing s. Default 1.0.
        batch: False (default) per-image Dice sums; True Dice sums pooled over the batch (the
            BCE term stays per image; its batch mean is the pooled one).
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), of the pixel mean and of
            the Dice sums; pixels of weight 0 are left out of both. Default None.

    Returns:
        Float32 tensor of shape (B,).

    Reference: the "calc loss" of the LGG kit variants (w = 0.5).
    """
    check_number("bce_weight", bce_weight, low=0.0, high=1.0)
    y_true, y_pred = binary_inputs(y_true, y_pred)
    weight = pixel_weights(weight, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    cross_entropy = weighted_pixel_mean(bce_map(y_true, y_pred, from_logits), weight)
    dice_term = 1.0 - dice_coefficient(y_true, probs, smooth=smooth, batch=batch, weight=weight)
    return bce_weight * cross_entropy + (1.0 - bce_weight) * dice_term


def bce_logdice(y_true, y_pred, *, from_logits: bool = False, smooth: float = 1.0,
                batch: bool = False, weight=None):
    """Binary cross-entropy minus the log of the Dice coefficient, one value per image.

    L = BCE - log((2 sum(p y) + s) / (sum(p) + sum(y) + s))

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: Dice smoothing s. Default 1.0.
        batch: False (default) per-image Dice sums; True Dice sums pooled over the batch (measured
            much better on data sets where most slices are empty, see docs/losses.md). The BCE
            term stays per image; its batch mean is the pooled one.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), of the pixel mean and of
            the Dice sums; pixels of weight 0 are left out of both. Default None.

    Returns:
        Float32 tensor of shape (B,).

    Reference: the Kaggle `bce_logdice_loss` recipe.
    Fixes: the circulating snippet computes BCE - log(1 - dice_loss) from a Dice with misplaced
    smoothing; this one takes the log of the correctly smoothed coefficient.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    weight = pixel_weights(weight, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    cross_entropy = weighted_pixel_mean(bce_map(y_true, y_pred, from_logits), weight)
    return cross_entropy - safe_log(dice_coefficient(y_true, probs, smooth=smooth, batch=batch,
                                                     weight=weight))


def focal_dice(y_true, y_pred, *, alpha: float = 10.0, gamma: float = 2.0,
               focal_alpha: float | None = None, from_logits: bool = False, smooth: float = 1.0,
               batch: bool = False, weight=None):
    """Focal loss times alpha minus the log of the Dice coefficient, one value per image.

    L = alpha FL - log((2 sum(p y) + s) / (sum(p) + sum(y) + s)), FL as in `keras_seg.losses.focal`.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        alpha: weight of the focal term. Default 10.0.
        gamma: focal exponent. Default 2.0.
        focal_alpha: the focal loss' positive-class weight in [0, 1], or None (default) for none.
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: Dice smoothing s. Default 1.0.
        batch: False (default) per-image Dice sums; True Dice sums pooled over the batch (the
            focal term stays per image).
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), of the pixel mean and of
            the Dice sums; pixels of weight 0 are left out of both. Default None.

    Returns:
        Float32 tensor of shape (B,).

    Reference: the "mixedLoss" of the Kaggle Airbus ship-detection kernels (focal + log Dice).
    Fixes: the circulating Keras copies take -log of the Dice *loss*, which rewards a worse Dice
    (and misspell y_true as y_ture); this one takes -log of the Dice coefficient.
    """
    check_focal_args(gamma, focal_alpha, "focal_alpha")
    y_true, y_pred = binary_inputs(y_true, y_pred)
    weight = pixel_weights(weight, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    focal_term = weighted_pixel_mean(
        focal_map(y_true, y_pred, gamma=gamma, alpha=focal_alpha, from_logits=from_logits), weight
    )
    dice_coef = dice_coefficient(y_true, probs, smooth=smooth, batch=batch, weight=weight)
    return alpha * focal_term - safe_log(dice_coef)


@register
class BCEDiceLoss(PerImageLoss):
    """w BCE + (1 - w) Dice, see `keras_seg.losses.bce_dice`."""

    fn = staticmethod(bce_dice)

    def __init__(self, bce_weight: float = 0.5, batch: bool = False, from_logits: bool = False,
                 smooth: float = 1.0, reduction="sum_over_batch_size", name="bce_dice",
                 dtype=None):
        check_number("bce_weight", bce_weight, low=0.0, high=1.0)
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, bce_weight=bce_weight,
                         from_logits=from_logits, smooth=smooth, batch=batch)


@register
class BCELogDiceLoss(PerImageLoss):
    """BCE - log(Dice coefficient), see `keras_seg.losses.bce_logdice`."""

    fn = staticmethod(bce_logdice)

    def __init__(self, batch: bool = False, from_logits: bool = False, smooth: float = 1.0,
                 reduction="sum_over_batch_size", name="bce_logdice", dtype=None):
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         smooth=smooth, batch=batch)


@register
class FocalDiceLoss(PerImageLoss):
    """alpha * focal - log(Dice coefficient), the fixed mixedLoss; see
    `keras_seg.losses.focal_dice`. As the snippet, `mixed_loss(y_true, y_pred, alpha)` takes the
    focal weight as a third positional number."""

    fn = staticmethod(focal_dice)
    post_args = ("alpha",)

    def __init__(self, alpha: float = 10.0, gamma: float = 2.0, focal_alpha: float | None = None,
                 from_logits: bool = False, smooth: float = 1.0, batch: bool = False,
                 reduction="sum_over_batch_size", name="focal_dice", dtype=None):
        check_number("alpha", alpha, low=0.0)
        check_focal_args(gamma, focal_alpha, "focal_alpha")
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, alpha=alpha, gamma=gamma,
                         focal_alpha=focal_alpha, from_logits=from_logits, smooth=smooth,
                         batch=batch)


bce_dice_loss = BCEDiceLoss()
"""`loss=bce_dice_loss`, or `bce_dice_loss(bce_weight=0.5, batch=True)` for a configured one."""

bce_logdice_loss = BCELogDiceLoss()
"""`loss=bce_logdice_loss`, or `bce_logdice_loss(batch=True)` for a configured one."""

focal_dice_loss = FocalDiceLoss()
"""`loss=focal_dice_loss`, or `focal_dice_loss(alpha=10., gamma=2.)` for a configured one."""

mixed_loss = mixedLoss = focal_dice_loss
"""The circulating snippet's names (mixedLoss) for `focal_dice_loss`, with its bug fixed:
`mixedLoss(y_true, y_pred, alpha)` inside your own loss, or `loss=mixed_loss`."""
