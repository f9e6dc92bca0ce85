"""Sliding-window inference: overlapping tiles of the training size, Gaussian-weighted.

As nnU-Net: tiles of side ``tile`` step by ``tile * (1 - overlap)`` (rounded so that the last
tile ends on the image's edge), each tile's probabilities are weighted by a Gaussian importance
map (sigma = ``tile / 8``, largest at the tile's centre) and the weighted sum is divided by the
sum of the weights. Images smaller than a tile are zero-padded (bottom and right) to one tile
and the result cropped back. Tiles of all images are predicted in batches of ``batch_size``, so
the memory the network needs is that of one batch of tiles, whatever the image size; the
accumulators hold one image-sized array per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
from scipy import ndimage

SIGMA_SCALE = 1.0 / 8.0


def gaussian_importance(tile: int, sigma_scale: float = SIGMA_SCALE) -> np.ndarray:
    """(tile, tile) float32 weights: a Gaussian of sigma ``tile * sigma_scale`` centred on the
    tile, scaled to a maximum of 1, with no zero (the smallest nonzero value replaces zeros)."""
    impulse = np.zeros((tile, tile), np.float64)
    impulse[tile // 2, tile // 2] = 1.0
    weights = ndimage.gaussian_filter(impulse, tile * sigma_scale, mode="constant", cval=0.0)
    weights /= weights.max()
    weights[weights == 0] = weights[weights > 0].min()
    return weights.astype(np.float32)


def tile_starts(size: int, tile: int, overlap: float) -> list[int]:
    """First index of each tile along an axis of ``size`` >= ``tile``, evenly spread from 0 to
    ``size - tile``, consecutive starts at most ``tile * (1 - overlap)`` apart."""
    if size <= tile:
        return [0]
    step = tile * (1.0 - overlap)
    count = math.ceil((size - tile) / step) + 1
    return [int(round(i * (size - tile) / (count - 1))) for i in range(count)]


def _tiles(images: np.ndarray, tile: int, overlap: float) -> Iterator[tuple[int, int, int]]:
    height, width = images.shape[1:3]
    for n in range(len(images)):
        for y in tile_starts(height, tile, overlap):
            for x in tile_starts(width, tile, overlap):
                yield n, y, x


def sliding_window_predict(predict_batch: Callable[[np.ndarray], np.ndarray],
                           images: np.ndarray, tile: int, overlap: float = 0.5,
                           batch_size: int = 8) -> np.ndarray:
    """Probabilities (N, H, W, K) of images (N, H, W, C) from overlapping tiles.

    Args:
        predict_batch: float32 (B, tile, tile, C) -> probabilities (B, tile, tile, K).
        images: the images, any size.
        tile: side of the square tiles (the training size; a multiple of the network stride).
        overlap: fraction of a tile shared with its neighbour, in [0, 1).
        batch_size: tiles per call of ``predict_batch``.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    images = np.asarray(images, np.float32)
    height, width = images.shape[1:3]
    padded = np.pad(images, ((0, 0), (0, max(0, tile - height)), (0, max(0, tile - width)),
                             (0, 0)))
    weights = gaussian_importance(tile)[..., None]
    total: np.ndarray | None = None
    norm = np.zeros(padded.shape[:3] + (1,), np.float32)
    batch: list[tuple[int, int, int]] = []

    def flush() -> None:
        nonlocal total
        probs = np.asarray(predict_batch(np.stack([padded[n, y:y + tile, x:x + tile]
                                                   for n, y, x in batch])), np.float32)
        if total is None:
            total = np.zeros(padded.shape[:3] + probs.shape[-1:], np.float32)
        for (n, y, x), prob in zip(batch, probs, strict=True):
            total[n, y:y + tile, x:x + tile] += prob * weights
            norm[n, y:y + tile, x:x + tile] += weights
        batch.clear()

    for position in _tiles(padded, tile, overlap):
        batch.append(position)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return (total / norm)[:, :height, :width]
