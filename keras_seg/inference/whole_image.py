"""Whole-image inference: pad to a multiple of the network stride, predict, crop back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keras_seg.data.padding import pad_to_multiple, unpad


def whole_image_predict(predict_batch: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                        stride: int, batch_size: int = 8) -> np.ndarray:
    """Probabilities (N, H, W, K) of images (N, H, W, C) of any size, ``batch_size`` at a time.

    The images are zero-padded at the bottom and right to multiples of ``stride`` and the
    probabilities cropped back to (H, W).
    """
    height, width = images.shape[1:3]
    padded, _ = pad_to_multiple(np.asarray(images, np.float32), stride)
    out = [np.asarray(predict_batch(padded[i:i + batch_size]))
           for i in range(0, len(padded), batch_size)]
    return unpad(np.concatenate(out), height, width)
