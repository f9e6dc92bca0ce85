"""Split slices into training and validation sets by whole volumes, never by slice."""

from __future__ import annotations

import numpy as np

from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError


def choose_val_volumes(volumes: list[str], val_volumes: int | float, seed: int) -> list[str]:
    """Draw validation volumes with a fixed seed.

    Args:
        volumes: all volume ids.
        val_volumes: a count (int >= 1) or a fraction in (0, 1): the fraction of the volumes
            rounded to a count, then kept within 1 .. n - 1 so that at least one volume is on
            each side (2 volumes split 1/1, 3 volumes 2/1 at the default 0.2).
        seed: seed of the draw; the same seed and volumes give the same choice, whatever
            their order.

    Returns:
        The sorted validation volume ids.
    """
    n = len(volumes)
    if isinstance(val_volumes, float) and not val_volumes.is_integer():
        if not 0 < val_volumes < 1:
            raise UserError(f"val_volumes={val_volumes} must be a count >= 1 or a fraction "
                            "in (0, 1)")
        if n < 2:
            raise UserError(f"a validation split needs at least 2 volumes; the data has {n}")
        count = min(max(int(round(val_volumes * n)), 1), n - 1)
    else:
        count = int(val_volumes)
    if not 1 <= count < n:
        raise UserError(f"val_volumes={val_volumes} must leave at least one volume on each side "
                        f"of the split; the data has {n} volumes")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(sorted(volumes), size=count, replace=False).tolist())


def kfold_volumes(volumes: list[str], k: int, fold: int, seed: int) -> list[str]:
    """The validation volumes of fold ``fold`` of a seeded ``k``-fold split.

    The volumes are shuffled once with ``seed`` and cut into ``k`` folds whose sizes differ by
    at most one; folds 0..k-1 are disjoint and together hold every volume.

    Returns:
        The sorted validation volume ids of that fold.
    """
    n = len(volumes)
    if not (isinstance(k, int) and 2 <= k <= n):
        raise UserError(f"k-fold needs 2 <= k <= {n} (the number of volumes), got k={k}")
    if not (isinstance(fold, int) and 0 <= fold < k):
        raise UserError(f"fold must be an integer in 0..{k - 1}, got {fold}")
    order = np.random.default_rng(seed).permutation(sorted(volumes))
    return sorted(np.array_split(order, k)[fold].tolist())


def split_by_volume(data: SliceSet, val_volumes: int | float | list[str], seed: int
                    ) -> tuple[SliceSet, SliceSet]:
    """Split ``data`` into (train, val) so that no volume is on both sides.

    Args:
        data: the slices.
        val_volumes: a count or fraction for :func:`choose_val_volumes`, or the list of
            validation volume ids itself (e.g. from :func:`kfold_volumes`).
        seed: seed of the draw.
    """
    if isinstance(val_volumes, (list, tuple)):
        val = list(val_volumes)
        unknown = sorted(set(val) - set(data.volumes))
        if unknown:
            raise UserError(f"validation volume '{unknown[0]}' is not in the data")
    else:
        val = choose_val_volumes(data.volumes, val_volumes, seed)
    is_val = np.isin(data.volume_ids, val)
    return data.subset(~is_val), data.subset(is_val)
