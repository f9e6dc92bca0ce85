"""Binary cross-entropy, per image."""

from __future__ import annotations

from keras import ops

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    check_bool,
    clip_probabilities,
    pixel_weights,
    register,
    weighted_pixel_mean,
)


def bce_map(y_true, y_pred, from_logits: bool):
    """Per-pixel binary cross-entropy of float32 inputs of equal shape.

    From logits it uses the stable form max(x, 0) - x*y + log(1 + exp(-|x|)); from
    probabilities it clips p to [1e-7, 1 - 1e-7] first.
    """
    if from_logits:
        return ops.relu(y_pred) - y_pred * y_true + ops.softplus(-ops.abs(y_pred))
    p = clip_probabilities(y_pred)
    return -(y_true * ops.log(p) + (1.0 - y_true) * ops.log1p(-p))


def bce(y_true, y_pred, *, from_logits: bool = False, weight=None):
    """Binary cross-entropy averaged over the pixels of each image.

    BCE = -sum(w (y log p + (1 - y) log(1 - p))) / sum(w), w = 1 by default.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        from_logits: whether `y_pred` holds logits. Default False.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1); pixels of weight 0 are left
            out of the mean. Default None (every pixel counts once).

    Returns:
        Float32 tensor of shape (B,).

    Reference: the textbook binary cross-entropy; as `keras.losses.BinaryCrossentropy`, but one
    value per image. Probabilities are clipped, so exact 0 and 1 give finite values.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    return weighted_pixel_mean(bce_map(y_true, y_pred, from_logits), pixel_weights(weight, y_pred))


@register
class BCELoss(PerImageLoss):
    """Binary cross-entropy per image, see `keras_seg.losses.bce`."""

    fn = staticmethod(bce)

    def __init__(self, from_logits: bool = False, reduction="sum_over_batch_size", name="bce",
                 dtype=None):
        check_bool("from_logits", from_logits)
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits)


bce_loss = BCELoss()
"""`loss=bce_loss`, or `bce_loss(from_logits=True)` for a configured `BCELoss`."""
