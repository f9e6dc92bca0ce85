"""Checkpoint the model with the best validation mean per-volume DSC."""

from __future__ import annotations

import math
import os

import keras
import numpy as np

from keras_seg.metrics import class_slice_sums, per_volume_class_dsc


class BestDSCCheckpoint(keras.callbacks.Callback):
    """Score mean per-volume DSC on validation data each epoch and keep the best model.

    At each epoch end the validation set is predicted once, batch by batch; only per-slice
    counts (intersection, predicted and true foreground, per class) stay on the host, so the
    validation set is never held in memory whole. The score is written into ``logs[monitor]``
    so that CSVLogger, TensorBoard, EarlyStopping and ReduceLROnPlateau see it: put this
    callback before them in the list, and give those two ``mode="max"`` (Keras cannot infer the
    direction of a custom log entry). The best model is saved atomically (written to a
    temporary file, then renamed), so a crash never leaves a broken file.

    Scoring: for each volume, the Dice of all its slices taken together, then the mean over
    volumes. Binary (one output channel): foreground is ``prediction > threshold``.
    Multi-class (K > 1 softmax channels, truth as class ids or one-hot): the predicted class is
    the argmax, a volume's score is the mean of its Dice over the foreground classes 1..K-1.
    Empty-truth policy (per class): a volume without that class in the truth scores 1 when
    none is predicted, 0 otherwise (``keras_seg.metrics``).

    Args:
        validation_data: an iterable of ``(x, y)`` or ``(x, y, sample_weight)`` batches in a
            fixed order (e.g. an unshuffled ``tf.data.Dataset``); pixels of weight 0 are
            ignored.
        volume_ids: the volume id of each validation slice, in the same order.
        filepath: where to save the best model (``.keras``); ``None`` to only score.
        threshold: probability threshold of a single-channel prediction.
        output_index: which output to score for a user's model with several outputs (the
            last by default); keras-seg's own models have one (a deep-supervised model's
            extra heads exist only in its training step).
        monitor: the name of the log entry.
        verbose: print a line when the best model improves.
        eager_predict: call the model directly instead of ``predict_on_batch``; needed under
            ``MultiWorkerMirroredStrategy``, whose ``predict_on_batch`` gathers the batches of
            every worker.

    Attributes:
        best: the best mean DSC so far (``-inf`` before the first epoch).
        best_epoch: its 0-based epoch, or ``None``.
        last_scores: ``{volume_id: DSC}`` of the last scored epoch.
        best_scores: ``{volume_id: DSC}`` of the best epoch.
    """

    def __init__(self, validation_data, volume_ids, filepath: str | None = "best.keras",
                 threshold: float = 0.5, output_index: int = -1, monitor: str = "val_dsc",
                 verbose: int = 1, eager_predict: bool = False):
        super().__init__()
        self.eager_predict = eager_predict
        self.validation_data = validation_data
        self.volume_ids = np.asarray(volume_ids).astype(str)
        self.filepath = filepath
        self.threshold = threshold
        self.output_index = output_index
        self.monitor = monitor
        self.verbose = verbose
        self.best = -np.inf
        self.best_epoch: int | None = None
        self.last_scores: dict[str, float] = {}
        self.best_scores: dict[str, float] = {}

    def evaluate(self) -> dict[str, float]:
        """DSC of each validation volume for the current model, in order of first appearance."""
        sums = []
        for batch in self.validation_data:
            # numpy in: JAX's and torch's predict_on_batch reject TensorFlow tensors
            x, y = keras.tree.map_structure(np.asarray, batch[0]), batch[1]
            w = batch[2] if len(batch) > 2 else None
            if isinstance(y, (tuple, list)):
                y = y[self.output_index]
            pred = (self.model(x, training=False) if self.eager_predict
                    else self.model.predict_on_batch(x))
            if isinstance(pred, (tuple, list)):
                pred = pred[self.output_index]
            pred = keras.ops.convert_to_numpy(pred)
            sums.append(class_slice_sums(pred, np.asarray(y), self.threshold,
                                         None if w is None else np.asarray(w)))
        sums = np.concatenate(sums)
        if len(sums) != len(self.volume_ids):
            raise ValueError(f"validation data has {len(sums)} slices but volume_ids has "
                             f"{len(self.volume_ids)}")
        return per_volume_class_dsc(sums, self.volume_ids)

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            return  # a diverged model is neither scored nor saved
        self.last_scores = self.evaluate()
        score = float(np.mean(list(self.last_scores.values())))
        if logs is not None:
            logs[self.monitor] = score
        if score > self.best:
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.4f} "
                      f"to {score:.4f}" + (f", saving {self.filepath}" if self.filepath else ""))
            self.best, self.best_epoch, self.best_scores = score, epoch, self.last_scores
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
