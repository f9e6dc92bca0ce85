"""Pad whole images to a multiple of the network stride, and crop predictions back.

A U-Net needs sides divisible by its stride (2**depth; 32 covers every builder of
keras_seg.models). Large images (DRIVE) are evaluated and predicted whole: padded at the bottom
and right with zeros, the padding weighted 0 so that losses and metrics ignore it, and the
prediction cropped back with :func:`unpad` so that it covers exactly the original pixels.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MULTIPLE = 32


def padded_size(size: int, multiple: int = DEFAULT_MULTIPLE) -> int:
    """The smallest multiple of ``multiple`` that is >= ``size``."""
    return -(-size // multiple) * multiple


def pad_to_multiple(images: np.ndarray, multiple: int = DEFAULT_MULTIPLE
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad (N, H, W, C) at the bottom and right so that H and W divide by ``multiple``.

    Returns:
        ``(padded, valid)``: the padded array, and float32 (N, H', W', 1) that is 1 on the
        original pixels and 0 on the padding (use it as the per-pixel weight).
    """
    n, h, w = images.shape[:3]
    ph, pw = padded_size(h, multiple) - h, padded_size(w, multiple) - w
    padded = np.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)))
    valid = np.pad(np.ones((n, h, w, 1), np.float32), ((0, 0), (0, ph), (0, pw), (0, 0)))
    return padded, valid


def unpad(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop (N, H', W', ...) predictions of padded images back to (N, height, width, ...)."""
    return array[:, :height, :width]
