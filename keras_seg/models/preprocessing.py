"""The fixed per-channel affine map that feeds a pretrained encoder what it was trained on."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seg")
class ChannelAffine(keras.layers.Layer):
    """``y[..., c] = x[..., c] * scale[c] + offset[c]``, with constant ``scale`` and ``offset``.

    The constants are part of the layer's config (not weights): they describe the encoder's
    expected input, never change in training and survive ``.keras`` and SavedModel round trips.
    ``keras_seg.models.encoders`` places one in front of every pretrained encoder (see
    ``docs/encoders.md`` for how the constants are derived).

    Args:
        scale: one factor per input channel.
        offset: one offset per input channel.
    """

    def __init__(self, scale: Sequence[float], offset: Sequence[float], **kwargs):
        super().__init__(**kwargs)
        if len(scale) != len(offset):
            raise ValueError(
                f"{self.name}: scale and offset need one value per channel each, "
                f"got {len(scale)} and {len(offset)}"
            )
        self.scale = [float(s) for s in scale]
        self.offset = [float(o) for o in offset]

    def build(self, input_shape):
        if input_shape[-1] != len(self.scale):
            raise ValueError(
                f"{self.name}: built for {len(self.scale)} channels, got input shape {input_shape}"
            )

    def call(self, inputs):
        scale = ops.convert_to_tensor(self.scale, dtype=inputs.dtype)
        offset = ops.convert_to_tensor(self.offset, dtype=inputs.dtype)
        return inputs * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
