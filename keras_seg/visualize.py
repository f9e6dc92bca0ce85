"""Overlay rendering: a slice in grey, the truth outlined in green, the prediction in red.

Shared by the TensorBoard image callback and the ``predict`` report, so both draw the same
picture as the LGG reference kit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

GREEN = (0, 255, 0)
RED = (255, 0, 0)


def outline(mask: np.ndarray) -> np.ndarray:
    """The 1-pixel inner border of a binary mask: ``mask & ~erode(mask)``.

    Erosion uses the 4-connected cross, so the border is a thin 8-connected contour. Pixels
    outside the image count as background: a mask touching the image edge is closed along it.

    Args:
        mask: (H, W) or (H, W, 1) array; nonzero is foreground.

    Returns:
        bool (H, W) array, True on border pixels.
    """
    mask = _plane(mask) != 0
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def grey(image: np.ndarray) -> np.ndarray:
    """The displayed grey plane of ``image``, min-max normalised per image to uint8 0..255.

    A single-channel image is shown as is; a multi-channel image by its middle channel
    (index ``C // 2``): FLAIR for the LGG pre-contrast/FLAIR/post-contrast stack, green for an
    RGB fundus photograph (the channel with the best vessel contrast). A constant image is
    black.

    Args:
        image: (H, W) or (H, W, C) array.

    Returns:
        uint8 (H, W) array.
    """
    image = np.asarray(image, np.float64)
    if image.ndim == 3:
        image = image[..., image.shape[-1] // 2]
    low, high = np.min(image), np.max(image)
    if not np.isfinite(low) or not np.isfinite(high) or high <= low:
        return np.zeros(image.shape, np.uint8)
    return np.round((image - low) / (high - low) * 255.0).astype(np.uint8)


def foreground(pred: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Binary foreground of a prediction: ``pred > threshold``, or, for K > 1 channels
    (softmax), any class other than 0 (``argmax > 0``).

    Returns:
        bool (H, W) array.
    """
    pred = np.asarray(pred)
    if pred.ndim == 3 and pred.shape[-1] > 1:
        return np.argmax(pred, axis=-1) > 0
    return _plane(pred) > threshold


def overlay(image: np.ndarray, truth: np.ndarray | None, pred: np.ndarray | None,
            threshold: float = 0.5) -> np.ndarray:
    """Render a slice in grey with the truth's border in green and the prediction's in red.

    The prediction is drawn last: where both borders fall on the same pixel, it is red.

    Args:
        image: (H, W) or (H, W, C) image, any range (see :func:`grey`).
        truth: (H, W) or (H, W, 1) labels (nonzero = foreground: 0/1 or class ids), or None.
        pred: (H, W) or (H, W, 1) probabilities, or (H, W, K) softmax (foreground = argmax > 0),
            or None.
        threshold: probability threshold of a single-channel prediction.

    Returns:
        uint8 RGB array of shape (H, W, 3).
    """
    plane = grey(image)
    rgb = np.repeat(plane[..., None], 3, axis=-1)
    if truth is not None:
        _draw(rgb, outline(truth), GREEN)
    if pred is not None:
        _draw(rgb, outline(foreground(pred, threshold)), RED)
    return rgb


def _draw(rgb: np.ndarray, border: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Paint the ``border`` pixels of ``rgb`` in ``colour``, in place."""
    if border.shape != rgb.shape[:2]:
        raise ValueError(f"mask of shape {border.shape} does not match image of shape "
                         f"{rgb.shape[:2]}")
    rgb[border] = colour


def _plane(mask: np.ndarray) -> np.ndarray:
    """(H, W) view of an (H, W) or (H, W, 1) array."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        return mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, 1) mask, got shape {mask.shape}")
    return mask
