"""Resize decoded slices: images bilinearly (antialiased when shrinking), masks by nearest."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize float32 (H, W, C) to ``size`` = (height, width), channel by channel."""
    if image.shape[:2] == tuple(size):
        return image
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], np.float32))
                           .resize(size[::-1], Image.BILINEAR))
                for c in range(image.shape[-1])]
    return np.stack(channels, axis=-1)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 (H, W) labels to ``size`` = (height, width) by nearest neighbour."""
    if mask.shape[:2] == tuple(size):
        return mask
    return np.asarray(Image.fromarray(mask).resize(size[::-1], Image.NEAREST))
