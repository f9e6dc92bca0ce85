"""Multi-class soft Dice + cross-entropy, with ignored pixels and an optional background class."""

from __future__ import annotations

from keras import ops

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    check_bool,
    check_number,
    per_image_sum,
    pixel_weights,
    register,
    safe_divide,
    safe_log,
)
from keras_seg.losses.dice import check_dice_options, dice_coefficient


def multiclass_inputs(y_true, y_pred, ignore_index: int | None):
    """Cast a multi-class target and prediction; one-hot the target and mark the valid pixels.

    Args:
        y_true: integer labels of shape (B, H, W) or (B, H, W, 1), or one-hot (B, H, W, K).
        y_pred: shape (B, H, W, K), K >= 2 known statically.
        ignore_index: label of the pixels to leave out (sparse targets only), or None.

    Returns:
        `(one_hot, y_pred, valid)`: float32 (B, H, W, K) target with zero rows at ignored pixels,
        float32 prediction, and float32 (B, H, W, 1) mask, 1 where the pixel counts.
    """
    y_pred = ops.cast(y_pred, "float32")
    num_classes = y_pred.shape[-1]
    if num_classes is None or num_classes < 2:
        raise ValueError(f"dice_ce needs y_pred with K >= 2 classes on the last axis, got "
                         f"shape {y_pred.shape}")
    rank = len(y_pred.shape)
    if len(y_true.shape) == rank and y_true.shape[-1] == num_classes:
        one_hot = ops.cast(y_true, "float32")
        return one_hot, y_pred, ops.ones_like(one_hot[..., :1])
    labels = ops.cast(y_true, "int32")
    if len(labels.shape) == rank:
        labels = ops.squeeze(labels, -1)
    if ignore_index is None:
        valid = ops.ones_like(labels, dtype="float32")
    else:
        valid = ops.cast(ops.not_equal(labels, ignore_index), "float32")
        labels = ops.where(valid > 0, labels, 0)
    valid = ops.expand_dims(valid, -1)
    one_hot = ops.one_hot(labels, num_classes, dtype="float32") * valid
    return one_hot, y_pred, valid


def dice_ce(y_true, y_pred, *, include_background: bool = True, ignore_index: int | None = None,
            dice_weight: float = 1.0, ce_weight: float = 1.0, from_logits: bool = False,
            smooth: float = 1.0, batch: bool = False, weight=None):
    """Multi-class soft Dice loss plus cross-entropy, one value per image.

    L = dice_weight (1 - mean_k Dice_k) + ce_weight CE, with
    Dice_k = (2 sum(v p_k y_k) + s) / (sum(v p_k) + sum(v y_k) + s) per class k and
    CE = -sum(v sum_k y_k log p_k) / sum(v), v = 0 on ignored pixels and the pixel's weight
    (default 1) elsewhere.

    Args:
        y_true: integer labels (B, H, W) or (B, H, W, 1), possibly holding `ignore_index`, or
            one-hot (B, H, W, K).
        y_pred: softmax probabilities (or logits with `from_logits=True`), shape (B, H, W, K).
        include_background: average the Dice over every class (True, default) or leave class 0
            out. The cross-entropy always covers every class.
        ignore_index: label whose pixels change nothing (e.g. 255 outside DRIVE's field of view);
            None (default) ignores nothing. Used with integer labels only; one-hot targets count
            every pixel.
        dice_weight: weight of the Dice term. Default 1.0.
        ce_weight: weight of the cross-entropy term. Default 1.0.
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: Dice smoothing s. Default 1.0. A class absent from truth and prediction scores 1.
        batch: False (default) per-image Dice sums; True Dice sums pooled over the batch.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), of every sum; pixels of
            weight 0 are left out as ignored ones are. Default None.

    Returns:
        Float32 tensor of shape (B,). An image whose pixels are all ignored scores 0.

    Reference: MONAI `DiceCELoss`; the DRIVE U-Net's cross-entropy + Dice with ignore_index=255.
    """
    one_hot, y_pred, valid = multiclass_inputs(y_true, y_pred, ignore_index)
    weight = pixel_weights(weight, y_pred)
    if weight is not None:
        valid = valid * weight
        one_hot = one_hot * ops.cast(weight > 0, "float32")
    if from_logits:
        probs, log_probs = ops.softmax(y_pred, axis=-1), ops.log_softmax(y_pred, axis=-1)
    else:
        probs = ops.clip(y_pred, 0.0, 1.0)
        log_probs = safe_log(probs)
    per_class = dice_coefficient(one_hot, probs, smooth=smooth, batch=batch, weight=valid,
                                 keep_last=True)
    if not include_background:
        per_class = per_class[:, 1:]
    dice_term = 1.0 - ops.mean(per_class, axis=-1)
    pixel_ce = -ops.sum(one_hot * log_probs, axis=-1, keepdims=True)
    cross_entropy = safe_divide(per_image_sum(valid * pixel_ce, False),
                                per_image_sum(valid, False))
    return dice_weight * dice_term + ce_weight * cross_entropy


@register
class DiceCELoss(PerImageLoss):
    """Multi-class Dice + cross-entropy, see `keras_seg.losses.dice_ce`."""

    fn = staticmethod(dice_ce)

    def __init__(self, include_background: bool = True, ignore_index: int | None = None,
                 dice_weight: float = 1.0, ce_weight: float = 1.0, from_logits: bool = False,
                 smooth: float = 1.0, batch: bool = False, reduction="sum_over_batch_size",
                 name="dice_ce", dtype=None):
        check_bool("include_background", include_background)
        if ignore_index is not None and (isinstance(ignore_index, bool)
                                         or not isinstance(ignore_index, int)):
            raise TypeError(f"ignore_index must be an integer or None, got {ignore_index!r}")
        check_number("dice_weight", dice_weight, low=0.0)
        check_number("ce_weight", ce_weight, low=0.0)
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype,
                         include_background=include_background, ignore_index=ignore_index,
                         dice_weight=dice_weight, ce_weight=ce_weight, from_logits=from_logits,
                         smooth=smooth, batch=batch)


dice_ce_loss = DiceCELoss()
"""`loss=dice_ce_loss`, or `dice_ce_loss(ignore_index=255)` for a configured `DiceCELoss`."""
