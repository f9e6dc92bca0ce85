"""Deep supervision in one place: extra heads only while training.

:class:`DeepSupervisionHeads` ends a deep-supervised network (UNet++, Zhou et al. 2018). While
training it returns every head stacked on a new last axis, ``[batch, H, W, K, heads]`` (the last
head is the full-depth prediction); otherwise only the full-depth head, ``[batch, H, W, K]``.
So the model has a single output everywhere but in the training step, and the data pipeline,
the checkpoint, ``predict`` and the SavedModel never see the extra heads;
:class:`keras_seg.losses.DeepSupervisionLoss` weighs the loss of each head. This is how MONAI
keeps it (``DynUNet`` returns its extra heads only in training, ``DeepSupervisionLoss`` owns
their weights).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seg")
class DeepSupervisionHeads(keras.layers.Layer):
    """``[head_1, ..., head_n]`` -> all heads stacked (training) or ``head_n`` (inference)."""

    def call(self, heads, training=None):
        if training:
            return ops.stack(list(heads), axis=-1)
        return heads[-1]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[-1])


def head_count(model: keras.Model) -> int:
    """The heads a model trains with: the inputs of its DeepSupervisionHeads layer, else 1."""
    for layer in model.layers:
        if isinstance(layer, DeepSupervisionHeads):
            return len(keras.tree.flatten(layer.input))
    return 1
