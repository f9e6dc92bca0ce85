"""Lovasz hinge loss for binary segmentation, per image."""

from __future__ import annotations

from keras import ops

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    check_bool,
    flatten_images,
    keep_weighted,
    logits_from_probabilities,
    pixel_weights,
    register,
)

IGNORED_LOGIT = -1e4
"""The logit given to a pixel of weight 0: certain background, so its hinge error is negative."""


def lovasz_gradient(sorted_labels):
    """Gradient of the Lovasz extension of the Jaccard loss at labels sorted by decreasing error.

    Args:
        sorted_labels: float32 0/1 labels, shape (B, N), in order of decreasing hinge error.

    Returns:
        Shape (B, N): J(k) - J(k - 1), with J(k) the Jaccard loss of the first k pixels
        predicted positive.
    """
    positives = ops.sum(sorted_labels, axis=1, keepdims=True)
    intersection = positives - ops.cumsum(sorted_labels, axis=1)
    union = positives + ops.cumsum(1.0 - sorted_labels, axis=1)
    jaccard = 1.0 - intersection / union
    return ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=1)


def lovasz_hinge(y_true, y_pred, *, from_logits: bool = False, weight=None):
    """Lovasz hinge loss, one value per image.

    L = sum_i relu(e_(i)) g_i, with hinge errors e = 1 - x (2y - 1) on logits x, sorted in
    decreasing order, and g the gradient of the Lovasz extension of the Jaccard loss (IoU).
    An image with an empty mask scores relu of its largest error.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (default), or logits with `from_logits=True`, shape (B, H, W, 1).
            Probabilities are clipped to [1e-7, 1 - 1e-7] and turned into logits, since the hinge
            works on logits.
        from_logits: whether `y_pred` holds logits. Default False.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1). Pixels of weight 0 are left
            out (made certain background, which sorts them last with no error, as removing them
            does); other weights count as 1, the hinge having no weighted form. Default None.

    Returns:
        Float32 tensor of shape (B,).

    Reference: Berman et al., "The Lovasz-Softmax loss", CVPR 2018 (`lovasz_hinge`, per_image=True).
    Fixes: the circulating snippet takes (logits, labels), the opposite of Keras' (y_true, y_pred).
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    logits = y_pred if from_logits else logits_from_probabilities(y_pred)
    y_true, logits = keep_weighted(y_true, logits, pixel_weights(weight, y_pred), IGNORED_LOGIT)
    labels = flatten_images(y_true)
    logits = flatten_images(logits)
    errors = 1.0 - logits * (2.0 * labels - 1.0)
    order = ops.argsort(-errors, axis=1)
    sorted_errors = ops.take_along_axis(errors, order, axis=1)
    sorted_labels = ops.take_along_axis(labels, order, axis=1)
    grad = ops.stop_gradient(lovasz_gradient(sorted_labels))
    return ops.sum(ops.relu(sorted_errors) * grad, axis=1)


@register
class LovaszHingeLoss(PerImageLoss):
    """Lovasz hinge loss, see `keras_seg.losses.lovasz_hinge`."""

    fn = staticmethod(lovasz_hinge)

    def __init__(self, from_logits: bool = False, reduction="sum_over_batch_size",
                 name="lovasz_hinge", dtype=None):
        check_bool("from_logits", from_logits)
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits)


lovasz_hinge_loss = LovaszHingeLoss()
"""`loss=lovasz_hinge_loss`, or `lovasz_hinge_loss(from_logits=True)` for a configured one."""
