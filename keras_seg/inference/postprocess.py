"""Post-processing of predicted volumes, chosen on the validation volumes as nnU-Net does.

A volume's predicted foreground is split into connected components in 3D (slices stacked in
order, face-connected: 6 neighbours; a volume whose slices differ in size is processed slice by
slice in 2D). Candidates: ``keep_largest`` (only the largest component stays) and
``remove_small`` (components of fewer than ``min_voxels`` pixels go). :func:`choose` scores every
candidate by the mean per-volume DSC on the validation volumes and keeps the best one only if it
beats the unprocessed prediction; the choice is stored as ``postprocess.json`` in the run
directory and applied by ``predict``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from keras_seg.errors import UserError

RECORD = "postprocess.json"
NAMES = ("keep_largest", "remove_small")
DEFAULT_MIN_VOXELS = (10, 50, 100, 250, 500, 1000)

Volume = np.ndarray | Sequence[np.ndarray]  # (n, H, W), or n slices (H_i, W_i)


@dataclasses.dataclass(frozen=True)
class Postprocess:
    """One post-processing step: ``keep_largest``, or ``remove_small`` below ``min_voxels``."""

    name: str
    min_voxels: int | None = None

    def __post_init__(self) -> None:
        if self.name not in NAMES:
            raise UserError(f"unknown post-processing '{self.name}'; valid: {', '.join(NAMES)}")
        if (self.name == "remove_small") != (self.min_voxels is not None):
            raise UserError("remove_small (and only it) takes min_voxels")

    def __str__(self) -> str:
        return self.name if self.min_voxels is None else f"{self.name}<{self.min_voxels}"

    def apply(self, volume: Volume) -> Volume:
        """The processed foreground of one volume (same form as given)."""
        if isinstance(volume, np.ndarray) or len({np.shape(s) for s in volume}) == 1:
            return self._apply(np.asarray(volume, bool))
        return [self._apply(np.asarray(s, bool)[None])[0] for s in volume]

    def _apply(self, mask: np.ndarray) -> np.ndarray:
        labels, count = ndimage.label(mask, ndimage.generate_binary_structure(mask.ndim, 1))
        if count == 0:
            return mask
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        if self.name == "keep_largest":
            keep = sizes == sizes.max()
            keep[np.flatnonzero(keep)[1:]] = False  # ties: the first largest component
        else:
            keep = sizes >= self.min_voxels
        keep[0] = False
        return keep[labels]


def candidates(min_voxels: Sequence[int] = DEFAULT_MIN_VOXELS) -> list[Postprocess]:
    """``keep_largest``, then ``remove_small`` for each threshold, in increasing order."""
    return [Postprocess("keep_largest")] + [Postprocess("remove_small", int(n))
                                            for n in sorted(min_voxels)]


def _flat(volume: Volume) -> np.ndarray:
    return np.concatenate([np.asarray(s, bool).ravel() for s in volume])


def volume_dsc(pred: Volume, truth: Volume, valid: Volume | None = None) -> float:
    """DSC of one volume (1.0 when both are empty), counting pixels where ``valid``."""
    p, t = _flat(pred), _flat(truth)
    if valid is not None:
        keep = _flat(valid)
        p, t = p & keep, t & keep
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2.0 * np.sum(p & t) / total)


def choose(predictions: dict[str, Volume], truths: dict[str, Volume],
           valid: dict[str, Volume] | None = None,
           options: Sequence[Postprocess] | None = None) -> dict:
    """Score each candidate on the validation volumes; keep the best if it raises the mean DSC.

    Args:
        predictions: volume id -> predicted foreground.
        truths: volume id -> true foreground (same keys and shapes).
        valid: optional volume id -> pixels that count.
        options: the candidates (default :func:`candidates`).

    Returns:
        ``{"chosen": {"name", "min_voxels"} or None, "baseline_dsc": x, "candidates":
        [{"name", "min_voxels", "dsc"}, ...], "volumes": [...]}``: ``chosen`` is the candidate
        with the highest mean per-volume DSC (the first one on a tie) when that is strictly
        above ``baseline_dsc``, the mean DSC without post-processing.
    """
    if not predictions:
        raise UserError("post-processing needs at least one validation volume with masks")
    volumes = list(predictions)

    def mean_dsc(step: Postprocess | None) -> float:
        return float(np.mean([volume_dsc(predictions[v] if step is None
                                         else step.apply(predictions[v]), truths[v],
                                         None if valid is None else valid[v])
                              for v in volumes]))

    baseline = mean_dsc(None)
    scored = [{**dataclasses.asdict(step), "dsc": mean_dsc(step)}
              for step in (options if options is not None else candidates())]
    best = max(scored, key=lambda s: s["dsc"])  # max keeps the first of equal scores
    chosen = ({"name": best["name"], "min_voxels": best["min_voxels"]}
              if best["dsc"] > baseline else None)
    return {"chosen": chosen, "baseline_dsc": baseline, "candidates": scored,
            "volumes": volumes}


def save_choice(run_dir: str, result: dict) -> str:
    """Write :func:`choose`'s result to ``run_dir/postprocess.json``; return the path."""
    path = os.path.join(run_dir, RECORD)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    return path


def load_choice(run_dir: str) -> Postprocess | None:
    """The post-processing a run recorded, or None (no record, or nothing was chosen)."""
    path = os.path.join(run_dir, RECORD)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            chosen = json.load(f).get("chosen")
    except (OSError, ValueError, AttributeError) as e:
        raise UserError(f"cannot read the post-processing record {path}: {e}") from None
    return None if chosen is None else Postprocess(chosen["name"], chosen.get("min_voxels"))
