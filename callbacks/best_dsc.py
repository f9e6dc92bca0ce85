"""Checkpoint the model with the best validation mean per-volume DSC."""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_seg.metrics import per_volume_dsc_from_sums, slice_sums


class BestDSCCheckpoint(keras.callbacks.Callback):
    """Score mean per-volume DSC on validation data each epoch and keep the best model.

    At each epoch end the validation set is predicted once, batch by batch; only per-slice
    counts (intersection, predicted and true foreground) stay on the host, so the validation
    set is never held in memory whole. The mean per-volume DSC (prediction > ``threshold``;
    a volume with empty truth scores 1 if nothing is predicted, else 0) is written into
    ``logs[monitor]`` so that CSVLogger, TensorBoard, EarlyStopping and ReduceLROnPlateau
    see it: put this callback before them in the list. The best model is saved atomically
    (written to a temporary file, then renamed), so a crash never leaves a broken file.

    Args:
        validation_data: an iterable of ``(x, y)`` or ``(x, y, sample_weight)`` batches in a
            fixed order (e.g. an unshuffled ``tf.data.Dataset``); pixels of weight 0 are
            ignored.
        volume_ids: the volume id of each validation slice, in the same order.
        filepath: where to save the best model (``.keras``); ``None`` to only score.
        threshold: probability threshold of the prediction.
        output_index: which model output to score when the model has several (deep
            supervision): the last by default.
        monitor: the name of the log entry.
        verbose: print a line when the best model improves.
    """

    def __init__(self, validation_data, volume_ids, filepath: str | None = "best.keras",
                 threshold: float = 0.5, output_index: int = -1, monitor: str = "val_dsc",
                 verbose: int = 1):
        super().__init__()
        self.validation_data = validation_data
        self.volume_ids = np.asarray(volume_ids).astype(str)
        self.filepath = filepath
        self.threshold = threshold
        self.output_index = output_index
        self.monitor = monitor
        self.verbose = verbose
        self.best = -np.inf
        self.best_epoch = None
        self.last_scores: dict[str, float] = {}

    def evaluate(self) -> dict[str, float]:
        """DSC of each validation volume for the current model."""
        sums = []
        for batch in self.validation_data:
            x, y = batch[0], batch[1]
            w = batch[2] if len(batch) > 2 else None
            if isinstance(y, (tuple, list)):
                y = y[self.output_index]
            pred = self.model.predict_on_batch(x)
            if isinstance(pred, (tuple, list)):
                pred = pred[self.output_index]
            sums.append(slice_sums(pred, np.asarray(y), self.threshold,
                                   None if w is None else np.asarray(w)))
        sums = np.concatenate(sums)
        if len(sums) != len(self.volume_ids):
            raise ValueError(f"validation data has {len(sums)} slices but volume_ids has "
                             f"{len(self.volume_ids)}")
        return per_volume_dsc_from_sums(sums, self.volume_ids)

    def on_epoch_end(self, epoch, logs=None):
        self.last_scores = self.evaluate()
        score = float(np.mean(list(self.last_scores.values())))
        if logs is not None:
            logs[self.monitor] = score
        if score > self.best:
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.4f} "
                      f"to {score:.4f}" + (f", saving {self.filepath}" if self.filepath else ""))
            self.best, self.best_epoch = score, epoch
            if self.filepath:
                save_atomically(self.model, self.filepath)


def save_atomically(model: keras.Model, filepath: str) -> None:
    """Save ``model`` to ``filepath`` via a temporary file and a rename."""
    directory, base = os.path.split(os.path.abspath(filepath))
    tmp = os.path.join(directory, f".{base}.tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, filepath)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
