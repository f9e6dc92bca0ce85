"""Per-volume Dice similarity coefficient (DSC), the headline metric of the LGG reference.

For each volume, the Dice of all its slices taken together (prediction > threshold), then the
mean over volumes. Empty-truth policy: a volume with no foreground in the truth scores 1.0 when
the prediction is empty too, and 0.0 when anything is predicted.
"""

from __future__ import annotations

import numpy as np


def dice_from_sums(intersection, pred_sum, true_sum) -> np.ndarray:
    """Dice 2I / (P + T) elementwise, 1.0 where both P and T are zero."""
    intersection, pred_sum, true_sum = (np.asarray(a, np.float64)
                                        for a in (intersection, pred_sum, true_sum))
    denom = pred_sum + true_sum
    return np.where(denom > 0, 2.0 * intersection / np.maximum(denom, 1e-12), 1.0)


def slice_sums(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5,
               weights: np.ndarray | None = None) -> np.ndarray:
    """Per-slice (intersection, predicted, true) foreground counts, shape (N, 3).

    ``pred`` holds probabilities, ``truth`` 0/1 labels; pixels of weight 0 are ignored.
    """
    p = (np.asarray(pred) > threshold).reshape(len(pred), -1).astype(np.float64)
    t = (np.asarray(truth) > 0.5).reshape(len(truth), -1).astype(np.float64)
    if weights is not None:
        w = (np.asarray(weights).reshape(len(truth), -1) > 0).astype(np.float64)
        p, t = p * w, t * w
    return np.stack([(p * t).sum(1), p.sum(1), t.sum(1)], axis=1)


def per_volume_dsc_from_sums(sums: np.ndarray, volume_ids) -> dict[str, float]:
    """DSC per volume from per-slice counts (N, 3) and their volume ids."""
    volume_ids = np.asarray(volume_ids).astype(str)
    order = list(dict.fromkeys(volume_ids.tolist()))
    totals = np.stack([sums[volume_ids == v].sum(0) for v in order])
    return dict(zip(order, dice_from_sums(*totals.T).tolist(), strict=True))


def per_volume_dsc(pred: np.ndarray, truth: np.ndarray, volume_ids, threshold: float = 0.5,
                   weights: np.ndarray | None = None) -> dict[str, float]:
    """DSC of each volume, its slices pooled, in order of first appearance."""
    return per_volume_dsc_from_sums(slice_sums(pred, truth, threshold, weights), volume_ids)


def mean_per_volume_dsc(pred: np.ndarray, truth: np.ndarray, volume_ids,
                        threshold: float = 0.5, weights: np.ndarray | None = None) -> float:
    """Mean over volumes of the per-volume DSC."""
    return float(np.mean(list(per_volume_dsc(pred, truth, volume_ids, threshold,
                                             weights).values())))


def class_slice_sums(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """Per-slice, per-foreground-class (intersection, predicted, true) counts, (N, C, 3).

    A single-channel ``pred`` (probabilities) gives C = 1, as ``keras_seg.metrics.slice_sums``.
    A K-channel ``pred`` (softmax, K > 1) gives C = K - 1: class ``c`` is predicted where the
    argmax is ``c``; ``truth`` holds class ids (N, H, W, 1) or is one-hot (N, H, W, K).
    Pixels of weight 0 are ignored.
    """
    pred = np.asarray(pred)
    if pred.shape[-1] == 1:
        return slice_sums(pred, truth, threshold, weights)[:, None, :]
    num_classes = pred.shape[-1]
    truth = np.asarray(truth)
    truth_ids = np.argmax(truth, -1) if truth.shape[-1] == num_classes else truth[..., 0]
    pred_ids = np.argmax(pred, -1)
    return np.stack([slice_sums(pred_ids == c, truth_ids == c, 0.5, weights)
                     for c in range(1, num_classes)], axis=1)


def per_volume_class_dsc(sums: np.ndarray, volume_ids) -> dict[str, float]:
    """DSC per volume, averaged over classes, from per-slice class counts (N, C, 3)."""
    per_class = [per_volume_dsc_from_sums(sums[:, c], volume_ids) for c in range(sums.shape[1])]
    return {v: float(np.mean([scores[v] for scores in per_class])) for v in per_class[0]}
