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
