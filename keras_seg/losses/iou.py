"""Soft IoU (Jaccard) loss, per image or pooled over the batch."""

from __future__ import annotations

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    check_smooth,
    per_image_sum,
    register,
    safe_ratio,
    sigmoid_probabilities,
)


def soft_iou(y_true, y_pred, *, from_logits: bool = False, smooth: float = 1.0,
             batch: bool = False):
    """Soft IoU (Jaccard) loss, one value per image.

    L = 1 - (I + s) / (sum(p) + sum(y) - I + s), with I = sum(p y)

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        from_logits: whether `y_pred` holds logits. Default False.
        smooth: s, default 1.0. An empty truth with an empty prediction scores 0 (perfect).
        batch: False (default) per-image sums; True sums pooled over the batch.

    Returns:
        Float32 tensor of shape (B,), in [0, 1].

    Reference: Rahman and Wang, "Optimizing intersection-over-union in deep neural networks for
    image segmentation", ISVC 2016.
    """
    check_smooth(smooth)
    y_true, y_pred = binary_inputs(y_true, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    intersection = per_image_sum(probs * y_true, batch)
    union = per_image_sum(probs, batch) + per_image_sum(y_true, batch) - intersection
    return 1.0 - safe_ratio(intersection + smooth, union + smooth)


@register
class SoftIoULoss(PerImageLoss):
    """Soft IoU (Jaccard) loss, see `losses.soft_iou`."""

    fn = staticmethod(soft_iou)

    def __init__(self, from_logits: bool = False, smooth: float = 1.0, batch: bool = False,
                 reduction="sum_over_batch_size", name="soft_iou", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         smooth=smooth, batch=batch)


def soft_iou_loss(smooth: float = 1.0, batch: bool = False, **kwargs) -> SoftIoULoss:
    """Return a configured `SoftIoULoss`."""
    return SoftIoULoss(smooth=smooth, batch=batch, **kwargs)
