"""Tversky and focal Tversky losses, per image or pooled over the batch.

Convention: `alpha` weighs the false positives and `beta` the false negatives (as in Salehi et
al. 2017 and MONAI). The defaults alpha=0.3, beta=0.7 penalise missed foreground more than false
alarms, which favours recall on small lesions.
"""

from __future__ import annotations

from keras import ops

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    EPSILON,
    binary_inputs,
    check_bool,
    check_number,
    check_smooth,
    per_image_sum,
    pixel_weights,
    register,
    safe_ratio,
    sigmoid_probabilities,
)


def check_tversky_options(alpha, beta, from_logits, smooth, batch) -> None:
    """Refuse bad options of a Tversky loss when it is constructed."""
    check_number("alpha", alpha, low=0.0)
    check_number("beta", beta, low=0.0)
    check_bool("from_logits", from_logits)
    check_smooth(smooth)
    check_bool("batch", batch)


def tversky_index(y_true, y_pred, *, alpha: float, beta: float, from_logits: bool,
                  smooth: float, batch: bool, weight=None):
    """Tversky index (TP + s) / (TP + alpha FP + beta FN + s) with soft counts, each pixel
    counted with its weight (default 1); shape (B,)."""
    check_smooth(smooth)
    y_true, y_pred = binary_inputs(y_true, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    weight = pixel_weights(weight, y_pred)
    w = 1.0 if weight is None else weight
    true_pos = per_image_sum(w * probs * y_true, batch)
    false_pos = per_image_sum(w * probs * (1.0 - y_true), batch)
    false_neg = per_image_sum(w * (1.0 - probs) * y_true, batch)
    return safe_ratio(true_pos + smooth,
                      true_pos + alpha * false_pos + beta * false_neg + smooth)


def tversky(y_true, y_pred, *, alpha: float = 0.3, beta: float = 0.7, from_logits: bool = False,
            smooth: float = 1.0, batch: bool = False, weight=None):
    """Tversky loss, one value per image.

    L = 1 - TI, TI = (TP + s) / (TP + alpha FP + beta FN + s), with TP = sum(p y),
    FP = sum(p (1 - y)), FN = sum((1 - p) y). alpha = beta = 0.5 is the Dice loss with smoothing 2s.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        alpha: weight of the false positives. Default 0.3.
        beta: weight of the false negatives. Default 0.7.
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: s, default 1.0. An empty truth with an empty prediction scores 0 (perfect).
        batch: False (default) per-image sums; True sums pooled over the batch.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), of every count; pixels of
            weight 0 are left out. Default None.

    Returns:
        Float32 tensor of shape (B,), in [0, 1].

    Reference: Salehi et al., "Tversky loss function for image segmentation using 3D fully
    convolutional deep networks", MLMI 2017.
    Fixes: the circulating implementations disagree on which of a, b weighs the false positives;
    here alpha weighs FP and beta weighs FN, as in the paper.
    """
    return 1.0 - tversky_index(y_true, y_pred, alpha=alpha, beta=beta, from_logits=from_logits,
                               smooth=smooth, batch=batch, weight=weight)


def focal_tversky(y_true, y_pred, *, alpha: float = 0.3, beta: float = 0.7,
                  gamma: float = 4.0 / 3.0, from_logits: bool = False, smooth: float = 1.0,
                  batch: bool = False, weight=None):
    """Focal Tversky loss, one value per image.

    L = (1 - TI)^(1/gamma), TI the Tversky index of `keras_seg.losses.tversky`. 1 - TI is clipped
    below at 1e-7 so the gradient stays finite at a perfect prediction (the loss is then about
    6e-6).

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        alpha: weight of the false positives. Default 0.3.
        beta: weight of the false negatives. Default 0.7.
        gamma: focal parameter; the exponent is 1/gamma. Default 4/3.
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: s, default 1.0.
        batch: False (default) per-image sums; True sums pooled over the batch.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), of every count; pixels of
            weight 0 are left out. Default None.

    Returns:
        Float32 tensor of shape (B,), in [0, 1].

    Reference: Abraham and Khan, "A novel focal Tversky loss function with improved attention
    U-Net for lesion segmentation", ISBI 2019.
    Fixes: as for `tversky`, alpha weighs FP and beta FN; and the power of 0 no longer gives an
    infinite gradient.
    """
    check_number("gamma", gamma, low=0.0, low_open=True)
    index = tversky_index(y_true, y_pred, alpha=alpha, beta=beta, from_logits=from_logits,
                          smooth=smooth, batch=batch, weight=weight)
    return ops.power(ops.maximum(1.0 - index, EPSILON), 1.0 / gamma)


@register
class TverskyLoss(PerImageLoss):
    """Tversky loss, see `keras_seg.losses.tversky` (alpha weighs FP, beta weighs FN)."""

    fn = staticmethod(tversky)

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, from_logits: bool = False,
                 smooth: float = 1.0, batch: bool = False, reduction="sum_over_batch_size",
                 name="tversky", dtype=None):
        check_tversky_options(alpha, beta, from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta,
                         from_logits=from_logits, smooth=smooth, batch=batch)


@register
class FocalTverskyLoss(PerImageLoss):
    """Focal Tversky loss, see `keras_seg.losses.focal_tversky` (alpha weighs FP, beta FN)."""

    fn = staticmethod(focal_tversky)

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, gamma: float = 4.0 / 3.0,
                 from_logits: bool = False, smooth: float = 1.0, batch: bool = False,
                 reduction="sum_over_batch_size", name="focal_tversky", dtype=None):
        check_tversky_options(alpha, beta, from_logits, smooth, batch)
        check_number("gamma", gamma, low=0.0, low_open=True)
        super().__init__(reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta,
                         gamma=gamma, from_logits=from_logits, smooth=smooth, batch=batch)


tversky_loss = TverskyLoss()
"""`loss=tversky_loss`, or `tversky_loss(alpha=0.3, beta=0.7)` for a configured `TverskyLoss`."""

focal_tversky_loss = FocalTverskyLoss()
"""`loss=focal_tversky_loss`, or `focal_tversky_loss(gamma=4/3)` for a configured one."""
