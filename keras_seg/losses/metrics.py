"""Segmentation metrics: soft Dice coefficient, IoU at 0.5, and IoU averaged over thresholds."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_seg.losses._utils import binary_inputs, per_image_sum, register, safe_ratio, sigmoid_probabilities
from keras_seg.losses.dice import dice_coefficient

DEFAULT_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
"""0.5, 0.55, ..., 0.95."""


@register
def dice_coef(y_true, y_pred):
    """Soft Dice coefficient of each image, for `metrics=[dice_coef]`.

    Dice = (2 sum(p y) + 1) / (sum(p) + sum(y) + 1), on probabilities.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities, shape (B, H, W, 1).

    Returns:
        Float32 tensor of shape (B,), in [0, 1]; 1 for two empty masks. In `compile`, Keras
        reports the mean over the images seen so far in the epoch.

    Fixes: the circulating `dice_coef` misplaces the smoothing (two empty masks score 2) and pools
    the whole batch; this one is per image.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    return dice_coefficient(y_true, ops.clip(y_pred, 0.0, 1.0), smooth=1.0, batch=False)


def hard_counts(y_true, y_pred, threshold: float):
    """Intersection and union of (p > threshold) with the mask, per image; each shape (B,)."""
    predicted = ops.cast(y_pred > threshold, "float32")
    intersection = per_image_sum(predicted * y_true, False)
    union = per_image_sum(predicted, False) + per_image_sum(y_true, False) - intersection
    return intersection, union


@register
def iou(y_true, y_pred):
    """IoU of each image at threshold 0.5, for `metrics=[iou]`.

    IoU = |(p > 0.5) and y| / |(p > 0.5) or y|, 1 when both are empty.

    Args:
        y_true: 0/1 mask, shape (B, H, W, 1) or (B, H, W).
        y_pred: probabilities, shape (B, H, W, 1).

    Returns:
        Float32 tensor of shape (B,), in [0, 1]. Not differentiable: a metric, not a loss.
    """
    y_true, y_pred = binary_inputs(y_true, y_pred)
    return safe_ratio(*hard_counts(y_true, y_pred, 0.5))


@register
class MeanIoU(keras.metrics.Metric):
    """Foreground IoU averaged over thresholds 0.5, 0.55, ..., 0.95, accumulated over batches.

    For each threshold t it keeps running sums of |(p > t) and y| and |(p > t) or y| over every
    pixel seen since the last reset; the result is mean_t (I_t / U_t), with 1 for a threshold
    where both are still empty. Batch scores are never averaged.

    Args:
        thresholds: the thresholds t. Default 0.5, 0.55, ..., 0.95.
        from_logits: whether `y_pred` holds logits (thresholds then apply to sigmoid(y_pred)).
            Default False.
        name: metric name. Default "mean_iou".
        dtype: dtype of the result. Default None (float32).

    `update_state(y_true, y_pred, sample_weight=None)`: y_true (B, H, W, 1) or (B, H, W) 0/1,
    y_pred (B, H, W, 1); sample_weight, shape (B,), weighs each image's pixels. `result()` is a
    scalar.

    Reference: the Kaggle data-science-bowl `mean_iou` metric.
    Fixes: the circulating `mean_iou` is built on TF1-only APIs (`tf.metrics.mean_iou`,
    `K.get_session`) and resets its state on every call. It also averages the IoU of the
    background and foreground classes; this one scores the foreground, as the loss does.
    """

    def __init__(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, from_logits: bool = False,
                 name: str = "mean_iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.thresholds = tuple(float(t) for t in thresholds)
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
