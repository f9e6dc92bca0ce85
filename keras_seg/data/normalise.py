"""Intensity normalisation of one volume (all its slices at once), per channel."""

from __future__ import annotations

import numpy as np


def percentile_rescale(images: np.ndarray, low: float = 10.0, high: float = 99.0) -> np.ndarray:
    """Clip each channel to its [low, high] percentiles over the volume, then map them to [0, 1].

    Args:
        images: (N, H, W, C) one volume.
        low, high: the percentiles (the LGG reference uses 10 and 99).

    Returns:
        float32 (N, H, W, C) in [0, 1]; a channel whose two percentiles coincide becomes 0.
    """
    channels = images.reshape(-1, images.shape[-1]).T
    lo, hi = np.percentile(channels, [low, high], axis=1).astype(np.float32)
    span = np.where(hi > lo, hi - lo, 1.0).astype(np.float32)
    return np.clip((images - lo) / span, 0.0, 1.0, dtype=np.float32)


def zscore(images: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Subtract each channel's mean and divide by its standard deviation over the volume.

    Args:
        images: (N, H, W, C) one volume.
        where: optional (N, H, W, 1) region: statistics use only pixels where it is > 0, and
            pixels outside it are set to 0.

    Returns:
        float32 (N, H, W, C) with mean 0 and std 1 per channel (a constant channel becomes 0).
    """
    x = images.astype(np.float32, copy=False)
    if where is None:
        mean = x.mean(axis=(0, 1, 2), dtype=np.float64)
        std = x.std(axis=(0, 1, 2), dtype=np.float64)
    else:
        inside = where[..., 0] > 0
        pixels = x[inside] if inside.any() else x.reshape(-1, x.shape[-1])
        mean, std = pixels.mean(axis=0, dtype=np.float64), pixels.std(axis=0, dtype=np.float64)
    out = (x - mean.astype(np.float32)) / np.where(std > 0, std, 1.0).astype(np.float32)
    if where is not None:
        out *= where > 0
    return out
