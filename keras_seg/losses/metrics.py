"""Segmentation metrics: soft Dice coefficient, IoU at a threshold, IoU averaged over thresholds.

`dice_coef`, `iou` and `mean_iou` are metric functions with options (`metrics=[dice_coef]`, or
`dice_coef(y_true, y_pred)` for one value per image); `ThresholdMeanIoU` is the stateful metric
that pools its counts over every batch of an epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_seg.losses._base import PerImageMetric
from keras_seg.losses._utils import (
    binary_inputs,
    check_bool,
    check_number,
    check_smooth,
    per_image_sum,
    register,
    register_alias,
    safe_ratio,
    sigmoid_probabilities,
)
from keras_seg.losses.dice import dice_coefficient

DEFAULT_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
"""0.5, 0.55, ..., 0.95."""


def check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    """The thresholds as a tuple of floats in [0, 1]; raise for an empty or bad sequence."""
    if isinstance(thresholds, (str, bytes)) or not isinstance(thresholds, Sequence):
        raise TypeError(f"thresholds must be a sequence of numbers, got {thresholds!r}")
    if not thresholds:
        raise ValueError("thresholds must not be empty")
    for t in thresholds:
        check_number("a threshold", t, low=0.0, high=1.0)
    return tuple(float(t) for t in thresholds)


def dice_coefficient_per_image(y_true, y_pred, *, smooth: float = 1.0,
                               from_logits: bool = False):
    """Soft Dice coefficient of each image.

    Dice = (2 sum(p y) + s) / (sum(p) + sum(y) + s), on probabilities.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        smooth: s, default 1.0.
        from_logits: whether `y_pred` holds logits. Default False.

    Returns:
        Float32 tensor of shape (B,), in [0, 1]; 1 for two empty masks.

    Fixes: the circulating `dice_coef` misplaces the smoothing (two empty masks score 2) and pools
    the whole batch; this one is per image.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    return dice_coefficient(y_true, probs, smooth=smooth, batch=False)


def hard_counts(y_true, probs, threshold: float):
    """Intersection and union of (p > threshold) with the mask, per image; each shape (B,)."""
    predicted = ops.cast(probs > threshold, "float32")
    intersection = per_image_sum(predicted * y_true, False)
    union = per_image_sum(predicted, False) + per_image_sum(y_true, False) - intersection
    return intersection, union


def iou_per_image(y_true, y_pred, *, threshold: float = 0.5, from_logits: bool = False):
    """IoU of each image at a threshold.

    IoU = |(p > t) and y| / |(p > t) or y|, 1 when both are empty.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        threshold: t, default 0.5 (applied to probabilities).
        from_logits: whether `y_pred` holds logits. Default False.

    Returns:
        Float32 tensor of shape (B,), in [0, 1]. Not differentiable: a metric, not a loss.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    return safe_ratio(*hard_counts(y_true, probs, threshold))


def mean_iou_per_image(y_true, y_pred, *, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                       from_logits: bool = False):
    """IoU of each image averaged over thresholds: mean_t IoU(p > t, y), t = 0.5, 0.55, ..., 0.95.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities (or logits with `from_logits=True`), shape (B, H, W, 1).
        thresholds: the thresholds t. Default 0.5, 0.55, ..., 0.95.
        from_logits: whether `y_pred` holds logits. Default False.

    Returns:
        Float32 tensor of shape (B,), in [0, 1]; an image whose truth and thresholded prediction
        are both empty scores 1 at that threshold.

    Reference: the Kaggle data-science-bowl `mean_iou` metric.
    Fixes: the circulating `mean_iou` is built on TF1-only APIs (`tf.metrics.mean_iou`,
    `K.get_session`) and resets its state on every call; it also averages the IoU of background
    and foreground. This one scores the foreground of each image; Keras averages the images.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    probs = sigmoid_probabilities(y_pred, from_logits)
    scores = [safe_ratio(*hard_counts(y_true, probs, t)) for t in thresholds]
    return ops.mean(ops.stack(scores, axis=-1), axis=-1)


@register
class DiceCoefficient(PerImageMetric):
    """The soft Dice coefficient per image as a metric function (`metrics=[dice_coef]`).

    Args:
        smooth: s, default 1.0 (also the snippet's optional third argument:
            `dice_coef(y_true, y_pred, smooth)`).
        from_logits: whether `y_pred` holds logits. Default False.
        name: the metric's name in the logs. Default "dice_coef".

    See `dice_coefficient_per_image` for the formula.
    """

    fn = staticmethod(dice_coefficient_per_image)
    post_args = ("smooth",)

    def __init__(self, smooth: float = 1.0, from_logits: bool = False, name: str = "dice_coef"):
        check_smooth(smooth)
        check_bool("from_logits", from_logits)
        super().__init__(name=name, smooth=smooth, from_logits=from_logits)


@register
class ForegroundIoU(PerImageMetric):
    """The IoU of each image's foreground at a threshold, as a metric function (`metrics=[iou]`).

    Args:
        threshold: probability threshold, default 0.5.
        from_logits: whether `y_pred` holds logits. Default False.
        name: the metric's name in the logs. Default "iou".

    See `iou_per_image`.
    """

    fn = staticmethod(iou_per_image)

    def __init__(self, threshold: float = 0.5, from_logits: bool = False, name: str = "iou"):
        check_number("threshold", threshold, low=0.0, high=1.0)
        check_bool("from_logits", from_logits)
        super().__init__(name=name, threshold=threshold, from_logits=from_logits)


@register
class ThresholdMeanIoUPerImage(PerImageMetric):
    """The post's `mean_iou` as a metric function: per image, the IoU averaged over thresholds.

    Args:
        thresholds: the thresholds, default 0.5, 0.55, ..., 0.95.
        from_logits: whether `y_pred` holds logits. Default False.
        name: the metric's name in the logs. Default "mean_iou".

    See `mean_iou_per_image`; `ThresholdMeanIoU` pools the counts over all images instead.
    """

    fn = staticmethod(mean_iou_per_image)

    def __init__(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                 from_logits: bool = False, name: str = "mean_iou"):
        check_bool("from_logits", from_logits)
        super().__init__(name=name, thresholds=list(check_thresholds(thresholds)),
                         from_logits=from_logits)


dice_coef = DiceCoefficient()
"""`metrics=[dice_coef]`; `dice_coef(y_true, y_pred)` gives the coefficient of each image."""

iou = ForegroundIoU()
"""`metrics=[iou]`; `iou(y_true, y_pred)` gives the IoU at 0.5 of each image."""

mean_iou = ThresholdMeanIoUPerImage()
"""`metrics=[mean_iou]`, as in the post; `mean_iou(y_true, y_pred)` gives one value per image."""

register_alias("dice_coef", dice_coef)  # saved as registered functions before they had options
register_alias("iou", iou)


@register
class ThresholdMeanIoU(keras.metrics.Metric):
    """Foreground IoU averaged over thresholds 0.5, 0.55, ..., 0.95, accumulated over batches.

    Not `keras.metrics.MeanIoU`, which averages the IoU over classes: this one averages it over
    thresholds of the foreground probability. For each threshold t it keeps running sums of
    |(p > t) and y| and |(p > t) or y| over every pixel seen since the last reset; the result
    is mean_t (I_t / U_t), with 1 for a threshold where both are still empty. Batch scores are
    never averaged.

    Args:
        thresholds: the thresholds t. Default 0.5, 0.55, ..., 0.95.
        from_logits: whether `y_pred` holds logits (thresholds then apply to sigmoid(y_pred)).
            Default False.
        name: metric name. Default "mean_iou".
        dtype: dtype of the result. Default None (float32).

    `update_state(y_true, y_pred, sample_weight=None)`: y_true (B, H, W, 1) or (B, H, W) 0/1,
    y_pred (B, H, W, 1); sample_weight, shape (B,), weighs each image's pixels. `result()` is a
    scalar.

    Reference: the Kaggle data-science-bowl `mean_iou` metric, pooled over the epoch.
    """

    def __init__(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, from_logits: bool = False,
                 name: str = "mean_iou", dtype=None):
        check_bool("from_logits", from_logits)
        thresholds = check_thresholds(thresholds)
        super().__init__(name=name, dtype=dtype)
        self.thresholds = thresholds
        self.from_logits = from_logits
        shape = (len(self.thresholds),)
        self.intersection = self.add_variable(shape=shape, initializer="zeros",
                                              name="intersection")
        self.union = self.add_variable(shape=shape, initializer="zeros", name="union")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = binary_inputs(y_true, y_pred)
        probs = sigmoid_probabilities(y_pred, self.from_logits)
        intersections, unions = [], []
        for threshold in self.thresholds:
            intersection, union = hard_counts(y_true, probs, threshold)
            if sample_weight is not None:
                weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
                intersection, union = intersection * weight, union * weight
            intersections.append(ops.sum(intersection))
            unions.append(ops.sum(union))
        self.intersection.assign_add(ops.stack(intersections))
        self.union.assign_add(ops.stack(unions))

    def result(self):
        intersection = ops.convert_to_tensor(self.intersection)
        union = ops.convert_to_tensor(self.union)
        return ops.cast(ops.mean(safe_ratio(intersection, union)), self.dtype)

    def get_config(self):
        return {**super().get_config(), "thresholds": list(self.thresholds),
                "from_logits": self.from_logits}


MeanIoU = ThresholdMeanIoU
"""Deprecated alias of `ThresholdMeanIoU` (the old name, easily confused with
`keras.metrics.MeanIoU`); kept so existing code and saved models keep working."""

register_alias("MeanIoU", ThresholdMeanIoU)
