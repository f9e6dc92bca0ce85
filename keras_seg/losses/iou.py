"""Soft IoU (Jaccard) loss, per image or pooled over the batch."""

from __future__ import annotations

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    check_smooth,
    per_image_sum,
    pixel_weights,
    register,
    safe_ratio,
    sigmoid_probabilities,
)
from keras_seg.losses.dice import check_dice_options


def soft_iou(y_true, y_pred, *, from_logits: bool = False, smooth: float = 1.0,
             batch: bool = False, weight=None):
    """Soft IoU (Jaccard) loss, one value per image.

    L = 1 - (I + s) / (sum(w p) + sum(w y) - I + s), with I = sum(w p y), w = 1 by default

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: s, default 1.0. An empty truth with an empty prediction scores 0 (perfect).
        batch: False (default) per-image sums; True sums pooled over the batch.
        weight: per-pixel weights w, shape (B, H, W) or (B, H, W, 1); pixels of weight 0 are
            left out. Default None.

    Returns:
        Float32 tensor of shape (B,), in [0, 1].

    Reference: Rahman and Wang, "Optimizing intersection-over-union in deep neural networks for
    image segmentation", ISVC 2016.
    """
    check_smooth(smooth)
    y_true, y_pred = binary_inputs(y_true, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    weight = pixel_weights(weight, y_pred)
    w = 1.0 if weight is None else weight
    intersection = per_image_sum(w * probs * y_true, batch)
    union = per_image_sum(w * probs, batch) + per_image_sum(w * y_true, batch) - intersection
    return 1.0 - safe_ratio(intersection + smooth, union + smooth)


@register
class SoftIoULoss(PerImageLoss):
    """Soft IoU (Jaccard) loss, see `keras_seg.losses.soft_iou`."""

    fn = staticmethod(soft_iou)

    def __init__(self, smooth: float = 1.0, batch: bool = False, from_logits: bool = False,
                 reduction="sum_over_batch_size", name="soft_iou", dtype=None):
        check_dice_options(from_logits, smooth, batch)
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         smooth=smooth, batch=batch)


soft_iou_loss = SoftIoULoss()
"""`loss=soft_iou_loss`, or `soft_iou_loss(batch=True)` for a configured `SoftIoULoss`."""
