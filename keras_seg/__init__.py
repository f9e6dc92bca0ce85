"""keras-seg: 2D medical image segmentation with Keras 3.

Importing keras_seg registers its losses and metrics with Keras, so that a model compiled with
them reloads with `keras.models.load_model(path)`; `keras_seg.load_model(path)` does both.
"""

from __future__ import annotations

import os

import keras

import keras_seg.callbacks  # noqa: F401
import keras_seg.losses  # noqa: F401  (registers the serializable losses and metrics)
import keras_seg.models  # noqa: F401

__version__ = "0.1.0"


def load_model(path: str | os.PathLike, **kwargs) -> keras.Model:
    """Load a `.keras` model saved with keras-seg losses and metrics (as `keras.models.load_model`).

    Args:
        path: the `.keras` file.
        **kwargs: passed on to `keras.models.load_model` (`compile`, `safe_mode`, ...).

    Returns:
        The model, compiled as it was saved unless `compile=False`.
    """
    return keras.models.load_model(path, **kwargs)
