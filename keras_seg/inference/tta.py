"""Test-time augmentation by flips: the mean of the probabilities of the 4 flipped images.

Each flip (none, horizontal, vertical, both) is its own inverse, so the prediction of a flipped
image is flipped back exactly before averaging. The averaged predictor is flip-equivariant:
flipping its input flips its output, whatever the network.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Axes of an (N, H, W, C) batch that each flip reverses.
FLIPS: dict[str, tuple[int, ...]] = {"none": (), "h": (2,), "v": (1,), "hv": (1, 2)}
TTA_MODES = ("none", "flip")


def flip(images: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``images`` reversed along ``axes`` (its own inverse)."""
    return np.flip(images, axes) if axes else images


def flip_tta(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    """Mean over the 4 flips of ``flip(predict(flip(images)))``; (N, H, W, C) -> (N, H, W, K)."""
    total = None
    for axes in FLIPS.values():
        prob = flip(np.asarray(predict(np.ascontiguousarray(flip(images, axes))), np.float32),
                    axes)
        total = prob if total is None else total + prob
    return total / len(FLIPS)
