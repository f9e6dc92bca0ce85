"""Export a trained model as a TensorFlow SavedModel that serves probabilities."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def final_output(outputs):
    """The output used for prediction: the last one of a deep-supervised model."""
    return outputs[-1] if isinstance(outputs, (list, tuple)) else outputs


def export_saved_model(model: keras.Model, path: str) -> None:
    """Write ``model`` to ``path`` as a SavedModel with one ``serve`` signature.

    ``serve`` takes float32 ``[batch, H, W, C]`` (batch and spatial sizes free) and returns
    the probabilities of the model's final output.
    """
    channels = model.inputs[0].shape[-1]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda x: final_output(model(x, training=False)),
        input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)],
    )
    archive.write_out(path, verbose=False)


def load_saved_model(path: str):
    """Load a SavedModel written by ``export_saved_model``; call ``.serve(x)`` on the result.

    Keep the returned object alive while using ``serve``: it owns the variables.
    """
    return tf.saved_model.load(path)


def check_export(model: keras.Model, path: str, sample: np.ndarray, atol: float = 1e-5) -> float:
    """Reload the SavedModel and return its max abs difference to ``model`` on ``sample``."""
    loaded = load_saved_model(path)
    served = np.asarray(loaded.serve(tf.constant(sample, tf.float32)))
    expected = np.asarray(final_output(model(sample, training=False)))
    diff = float(np.max(np.abs(served - expected)))
    if diff > atol:
        raise RuntimeError(f"exported model differs from the Keras model by {diff:.3g}")
    return diff
