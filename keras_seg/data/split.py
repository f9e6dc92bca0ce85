"""Split slices into training and validation sets by whole volumes."""

from __future__ import annotations

import numpy as np

from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError


def choose_val_volumes(volumes: list[str], val_volumes: int | float, seed: int) -> list[str]:
    """Draw validation volumes with a fixed seed.

    Args:
        volumes: all volume ids.
        val_volumes: a count (int >= 1) or a fraction in (0, 1).
        seed: seed of the draw; the same seed and volumes give the same choice.

    Returns:
        The sorted validation volume ids.
    """
    n = len(volumes)
    count = int(round(val_volumes * n)) if isinstance(val_volumes, float) and val_volumes < 1 \
        else int(val_volumes)
    if not 1 <= count < n:
        raise UserError(f"val_volumes={val_volumes} must leave at least one volume on each side "
                        f"of the split; the data has {n} volumes")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(sorted(volumes), size=count, replace=False).tolist())


def split_by_volume(data: SliceSet, val_volumes: int | float, seed: int
                    ) -> tuple[SliceSet, SliceSet]:
    """Split ``data`` into (train, val) so that no volume is on both sides."""
    val = choose_val_volumes(data.volumes, val_volumes, seed)
    is_val = np.isin(data.volume_ids, val)
    return data.subset(~is_val), data.subset(is_val)
