"""Binary focal loss, per image."""

from __future__ import annotations

from keras import ops

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import (
    binary_inputs,
    check_bool,
    check_number,
    clip_probabilities,
    pixel_weights,
    register,
    weighted_pixel_mean,
)


def check_focal_args(gamma: float, alpha: float | None, alpha_name: str = "alpha") -> None:
    """Raise for gamma that is not a number >= 0, or alpha neither None nor in [0, 1]."""
    check_number("gamma", gamma, low=0.0)
    check_number(alpha_name, alpha, low=0.0, high=1.0, allow_none=True)


def focal_map(y_true, y_pred, *, gamma: float, alpha: float | None, from_logits: bool):
    """Per-pixel focal loss -alpha_t (1 - p_t)^gamma log(p_t) of float32 inputs of equal shape."""
    if from_logits:
        log_p, log_not_p = ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
        p = clip_probabilities(ops.sigmoid(y_pred))
    else:
        p = clip_probabilities(y_pred)
        log_p, log_not_p = ops.log(p), ops.log1p(-p)
    log_p_t = y_true * log_p + (1.0 - y_true) * log_not_p
    p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
    loss = -ops.power(1.0 - p_t, gamma) * log_p_t
    if alpha is not None:
        loss = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * loss
    return loss


def focal(y_true, y_pred, *, gamma: float = 2.0, alpha: float | None = 0.25,
          from_logits: bool = False, weight=None):
    """Binary focal loss averaged over the pixels of each image.

    FL = mean_w(-alpha_t (1 - p_t)^gamma log(p_t)), with p_t = p where y = 1 and 1 - p where y = 0,
    alpha_t = alpha where y = 1 and 1 - alpha where y = 0.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        gamma: focusing exponent, >= 0. Default 2.0; 0 with alpha=None is plain BCE.
        alpha: weight of the positive class in [0, 1], or None for no class weighting.
            Default 0.25.
        from_logits: whether `y_pred` holds logits. Default False.
        weight: per-pixel weights, shape (B, H, W) or (B, H, W, 1), of the mean mean_w; pixels
            of weight 0 are left out of it. Default None (the plain mean).

    Returns:
        Float32 tensor of shape (B,).

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    Fixes: the circulating `focal_loss` does not clip, so log(0) gives inf/NaN; it sums over the
    pixels, so its scale grows with image size (this one averages); and copies with alpha > 1 make
    1 - alpha negative (alpha is checked to lie in [0, 1]).
    """
    check_focal_args(gamma, alpha)
    y_true, y_pred = binary_inputs(y_true, y_pred)
    return weighted_pixel_mean(
        focal_map(y_true, y_pred, gamma=gamma, alpha=alpha, from_logits=from_logits),
        pixel_weights(weight, y_pred),
    )


@register
class FocalLoss(PerImageLoss):
    """Binary focal loss, see `keras_seg.losses.focal`."""

    fn = staticmethod(focal)

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25, from_logits: bool = False,
                 reduction="sum_over_batch_size", name="focal", dtype=None):
        check_focal_args(gamma, alpha)
        check_bool("from_logits", from_logits)
        super().__init__(reduction=reduction, name=name, dtype=dtype, gamma=gamma, alpha=alpha,
                         from_logits=from_logits)


focal_loss = FocalLoss()
"""`loss=focal_loss`, or `focal_loss(gamma=2., alpha=.25)` for a configured `FocalLoss`."""
