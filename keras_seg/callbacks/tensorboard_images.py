"""Log overlays of fixed validation slices to TensorBoard every few epochs."""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_seg.visualize import overlay


def import_tensorflow():
    """Import TensorFlow, which writes TensorBoard event files, or say which feature needs it."""
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError("TensorBoardImages writes TensorBoard event files with TensorFlow, "
                          "which is not installed: pip install tensorflow") from None
    return tf


def choose_slices(masks: np.ndarray, volume_ids, count: int = 4) -> np.ndarray:
    """Indices of ``count`` slices to show, favouring foreground and distinct volumes.

    First, per volume, its slice with the most foreground (the first on ties), volumes with
    more foreground first; then the remaining slices by foreground area (largest first, then in
    order). Slices with foreground therefore come first where there are any, one per volume as
    far as possible. Deterministic.

    Args:
        masks: (N, H, W, 1) labels (nonzero = foreground).
        volume_ids: (N,) volume of each slice.
        count: how many slices (at most N).

    Returns:
        int array of up to ``count`` distinct indices.
    """
    area = (np.asarray(masks).reshape(len(masks), -1) != 0).sum(1)
    volume_ids = np.asarray(volume_ids).astype(str)
    order = np.lexsort((np.arange(len(area)), -area))  # largest area first, stable
    seen: set[str] = set()
    first = []
    for i in order:
        if volume_ids[i] not in seen:
            seen.add(volume_ids[i])
            first.append(i)
    chosen = set(first)
    rest = [i for i in order if i not in chosen]
    return np.array((first + rest)[:count], dtype=np.int64)


class TensorBoardImages(keras.callbacks.Callback):
    """Write overlays (image in grey, truth outlined green, prediction red) to TensorBoard.

    The slices are fixed at construction (see :func:`choose_slices`). They are logged at
    0-based epochs 0, ``every``, 2*``every``, ... (1-based: the first epoch, then every
    ``every``-th after it, as the LGG reference kit does) and at the last epoch of training,
    with the 0-based epoch as the step, like the scalars of Keras' TensorBoard callback. Each
    slice is one image summary, tagged ``overlay/<name>``, in ``<log_dir>/images``: a run of its
    own next to Keras' ``train`` and ``validation`` runs in the same ``log_dir``.

    Args:
        images: (S, H, W, C) the slices to show (a few: they are kept in memory).
        masks: (S, H, W, 1) their labels, or None to draw predictions only.
        log_dir: the TensorBoard log directory (the one given to ``keras.callbacks.TensorBoard``).
        every: log every this many epochs.
        names: (S,) tag names; default ``slice0``, ``slice1``, ...
        threshold: probability threshold of a single-channel prediction.
        output_index: which model output to draw when the model has several.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray | None, log_dir: str,
                 every: int = 10, names=None, threshold: float = 0.5, output_index: int = -1):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.images = np.asarray(images, np.float32)
        self.masks = None if masks is None else np.asarray(masks)
        self.log_dir = os.path.join(log_dir, "images")
        self.every = every
        self.names = ([f"slice{i}" for i in range(len(self.images))] if names is None
                      else [str(n) for n in names])
        self.threshold = threshold
        self.output_index = output_index
        self._writer = None
        self._last_epoch: int | None = None
        self._logged_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch
        if epoch % self.every == 0:
            self.write(epoch)

    def on_train_end(self, logs=None):
        if self._last_epoch is not None and self._logged_epoch != self._last_epoch:
            self.write(self._last_epoch)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def overlays(self) -> np.ndarray:
        """uint8 (S, H, W, 3) overlays of the fixed slices with the current model."""
        pred = self.model.predict_on_batch(self.images)
        if isinstance(pred, (tuple, list)):
            pred = pred[self.output_index]
        pred = np.asarray(pred)
        return np.stack([overlay(self.images[i], None if self.masks is None else self.masks[i],
                                 pred[i], self.threshold) for i in range(len(self.images))])

    def write(self, epoch: int) -> None:
        """Log the overlays at step ``epoch``."""
        pictures = self.overlays()
        tf = import_tensorflow()
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for name, picture in zip(self.names, pictures, strict=True):
                tf.summary.image(f"overlay/{name}", picture[None], step=epoch)
        self._writer.flush()
        self._logged_epoch = epoch
