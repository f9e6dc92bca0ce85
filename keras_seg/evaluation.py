"""Per-volume metrics of the field: overlap, surface distances, and data-set specific tables.

All functions score one volume: a stack of slices ``(n, H, W)`` (a single image is a volume of
one slice). The rules, written out in ``docs/inference.md``:

- Overlap (``dsc``, ``iou``, ``precision``, ``recall``) counts pixels of the whole volume.
- Surfaces are the foreground pixels with a background face-neighbour (3D, across slices);
  outside the image counts as background. ``hd95`` is the larger of the two directed 95th
  percentiles of the surface-to-surface distances, ``assd`` the mean of both directed distance
  sets pooled, ``nsd`` the fraction of both surfaces within ``tolerance`` of the other. Distances
  use ``spacing`` = (slice, row, column), in pixels by default.
- Empty cases (as MONAI's ``ignore_empty``, undefined values are NaN and left out of means):
  truth and prediction both empty: every score perfect (``dsc`` = ``iou`` = ``precision`` =
  ``recall`` = ``nsd`` = 1, distances 0); only one empty: ``dsc`` = ``iou`` = ``nsd`` = 0, the
  distances NaN, ``precision`` NaN when nothing is predicted (else 0), ``recall`` NaN when the
  truth is empty (else 0).
- ``valid`` (e.g. DRIVE's field of view) restricts every count to the pixels where it is True.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

NAN = float("nan")
SURFACE_METRICS = ("hd95", "assd", "nsd")
OVERLAP_METRICS = ("dsc", "iou", "precision", "recall")
VESSEL_METRICS = ("auc", "f1", "accuracy", "sensitivity", "specificity")
CELL_METRICS = ("rand_error", "vi")


def as_spacing(spacing: float | Sequence[float] | None) -> tuple[float, float, float]:
    """(slice, row, column) spacing from None (1 pixel), one number, or three numbers."""
    if spacing is None:
        return (1.0, 1.0, 1.0)
    values = [float(spacing)] * 3 if np.isscalar(spacing) else [float(s) for s in spacing]
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing must be one or three positive numbers, got {spacing!r}")
    return tuple(values)


def _ratio(num: float, den: float, both_empty: bool) -> float:
    if den > 0:
        return num / den
    return 1.0 if both_empty else NAN


def overlap_metrics(pred: np.ndarray, truth: np.ndarray,
                    valid: np.ndarray | None = None) -> dict[str, float]:
    """``dsc``, ``iou``, ``precision``, ``recall`` of boolean arrays of one shape."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if valid is not None:
        valid = np.asarray(valid, bool)
        pred, truth = pred & valid, truth & valid
    tp = float(np.sum(pred & truth))
    p, t = float(pred.sum()), float(truth.sum())
    both_empty = p == 0 and t == 0
    return {"dsc": _ratio(2 * tp, p + t, both_empty), "iou": _ratio(tp, p + t - tp, both_empty),
            "precision": _ratio(tp, p, both_empty), "recall": _ratio(tp, t, both_empty)}


def surface(mask: np.ndarray) -> np.ndarray:
    """Foreground pixels of a (n, H, W) mask with a background face-neighbour (3D)."""
    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, ndimage.generate_binary_structure(3, 1),
                                          border_value=0)


def surface_distances(a: np.ndarray, b: np.ndarray, spacing=None) -> np.ndarray:
    """Distance from each surface pixel of ``a`` to the nearest surface pixel of ``b``.

    Both are non-empty (n, H, W) masks; the distance transform is scipy's exact Euclidean one.
    """
    to_b = ndimage.distance_transform_edt(~surface(b), sampling=as_spacing(spacing))
    return to_b[surface(a)]


def surface_metrics(pred: np.ndarray, truth: np.ndarray, spacing=None,
                    tolerance: float = 1.0) -> dict[str, float]:
    """``hd95``, ``assd`` and ``nsd`` (at ``tolerance``) of two (n, H, W) boolean masks."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.ndim == 2:
        pred, truth = pred[None], truth[None]
    if not pred.any() and not truth.any():
        return {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}
    if not pred.any() or not truth.any():
        return {"hd95": NAN, "assd": NAN, "nsd": 0.0}
    d_pt = surface_distances(pred, truth, spacing)
    d_tp = surface_distances(truth, pred, spacing)
    both = np.concatenate([d_pt, d_tp])
    return {"hd95": float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95))),
            "assd": float(both.mean()),
            "nsd": float(np.mean(both <= tolerance))}


def volume_metrics(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None,
                   spacing=None, tolerance: float = 1.0) -> dict[str, float]:
    """Overlap and surface metrics of one volume (see the module docstring).

    Args:
        pred: (n, H, W) predicted foreground (bool).
        truth: (n, H, W) true foreground (bool).
        valid: optional (n, H, W) pixels that count (e.g. a field of view).
        spacing: None (pixels), one number, or (slice, row, column).
        tolerance: distance within which a surface pixel counts as matched for ``nsd``.

    Returns:
        ``{"dsc", "iou", "precision", "recall", "hd95", "assd", "nsd"}``.
    """
    out = overlap_metrics(pred, truth, valid)
    if valid is not None:
        pred, truth = np.logical_and(pred, valid), np.logical_and(truth, valid)
    return {**out, **surface_metrics(pred, truth, spacing, tolerance)}


def vessel_metrics(prob: np.ndarray, pred: np.ndarray, truth: np.ndarray,
                   valid: np.ndarray | None = None) -> dict[str, float]:
    """The retinal-vessel table inside the field of view ``valid``.

    ``auc`` is scikit-learn's ROC AUC of the foreground probabilities ``prob`` (NaN when the
    truth holds one class only); ``f1``, ``accuracy``, ``sensitivity`` and ``specificity``
    count the predicted foreground ``pred``.
    """
    from sklearn.metrics import roc_auc_score

    prob, pred, truth = (np.asarray(prob, np.float64), np.asarray(pred, bool),
                         np.asarray(truth, bool))
    keep = np.ones(truth.shape, bool) if valid is None else np.asarray(valid, bool)
    p, f, t = prob[keep], pred[keep], truth[keep]
    tp, tn = float(np.sum(f & t)), float(np.sum(~f & ~t))
    fp, fn = float(np.sum(f & ~t)), float(np.sum(~f & t))
    auc = float(roc_auc_score(t, p)) if 0 < t.sum() < t.size else NAN
    return {"auc": auc, "f1": _ratio(2 * tp, 2 * tp + fp + fn, tp + fp + fn == 0),
            "accuracy": (tp + tn) / t.size if t.size else NAN,
            "sensitivity": _ratio(tp, tp + fn, False),
            "specificity": _ratio(tn, tn + fp, False)}


def cell_labels(cells: np.ndarray) -> np.ndarray:
    """Connected cell regions of a (H, W) boolean cell mask, 4-connected; membrane is 0."""
    return ndimage.label(np.asarray(cells, bool))[0]


def cell_metrics(pred_cells: np.ndarray, true_cells: np.ndarray) -> dict[str, float]:
    """ISBI 2012 figures of a volume of sections, each labelled into cells (mean over slices).

    ``rand_error``: scikit-image's adapted Rand error (the true membrane, label 0, ignored);
    ``vi``: variation of information, the sum of both conditional entropies, in bits.
    """
    from skimage.metrics import adapted_rand_error, variation_of_information

    rand, vi = [], []
    for pred, truth in zip(np.asarray(pred_cells), np.asarray(true_cells), strict=True):
        labels_true, labels_pred = cell_labels(truth), cell_labels(pred)
        rand.append(adapted_rand_error(labels_true, labels_pred)[0])
        vi.append(float(np.sum(variation_of_information(labels_true, labels_pred))))
    return {"rand_error": float(np.mean(rand)), "vi": float(np.mean(vi))}


def summarise(rows: list[dict], columns: Sequence[str]) -> dict:
    """Means and medians of ``columns`` over rows, NaN left out; ``count`` rows in all.

    A column with no finite value summarises to None.
    """
    out: dict = {"count": len(rows), "mean": {}, "median": {}}
    for column in columns:
        values = np.array([r[column] for r in rows], np.float64)
        finite = values[np.isfinite(values)]
        out["mean"][column] = float(finite.mean()) if finite.size else None
        out["median"][column] = float(np.median(finite)) if finite.size else None
    return out
