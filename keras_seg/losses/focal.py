"""Binary focal loss, per image."""

from __future__ import annotations

from keras import ops

from keras_seg.losses._base import PerImageLoss
from keras_seg.losses._utils import binary_inputs, clip_probabilities, per_image_mean, register


def check_focal_args(gamma: float, alpha: float | None) -> None:
    """Raise ValueError for gamma < 0 or alpha outside [0, 1]."""
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] or None, got {alpha}")


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
          from_logits: bool = False):
    """Binary focal loss averaged over the pixels of each image.

    FL = mean(-alpha_t (1 - p_t)^gamma log(p_t)), with p_t = p where y = 1 and 1 - p where y = 0,
    alpha_t = alpha where y = 1 and 1 - alpha where y = 0.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        gamma: focusing exponent, >= 0. Default 2.0; 0 with alpha=None is plain BCE.
        alpha: weight of the positive class in [0, 1], or None for no class weighting.
            Default 0.25.
        from_logits: whether `y_pred` holds logits. Default False.

    Returns:
        Float32 tensor of shape (B,).

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    Fixes: the circulating `focal_loss` does not clip, so log(0) gives inf/NaN; it sums over the
    pixels, so its scale grows with image size (this one averages); and copies with alpha > 1 make
    1 - alpha negative (alpha is checked to lie in [0, 1]).
    """
    check_focal_args(gamma, alpha)
    y_true, y_pred = binary_inputs(y_true, y_pred)
    return per_image_mean(
        focal_map(y_true, y_pred, gamma=gamma, alpha=alpha, from_logits=from_logits)
    )


@register
class FocalLoss(PerImageLoss):
    """Binary focal loss, see `losses.focal`."""

    fn = staticmethod(focal)

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25, from_logits: bool = False,
                 reduction="sum_over_batch_size", name="focal", dtype=None):
        check_focal_args(gamma, alpha)
        super().__init__(reduction=reduction, name=name, dtype=dtype, gamma=gamma, alpha=alpha,
                         from_logits=from_logits)


def focal_loss(gamma: float = 2.0, alpha: float | None = 0.25, **kwargs) -> FocalLoss:
    """Return a configured `FocalLoss`: `model.compile(loss=focal_loss(gamma=2., alpha=.25))`."""
    return FocalLoss(gamma=gamma, alpha=alpha, **kwargs)
