"""Bilinear 2x upsampling that works with unknown spatial sizes.

``keras.layers.UpSampling2D(interpolation="bilinear")`` goes through ``keras.ops.image.resize``,
which compares the target size with 0 in Python; traced with free height and width (as
``keras_seg.export.export_saved_model`` does) that size is symbolic and tracing fails. This layer
computes the same values from shifted slices, so any size traces.

With half-pixel centres (``align_corners=False``), output pixel ``2i`` sits a quarter pixel
before input pixel ``i`` and ``2i + 1`` a quarter pixel after it, so along each axis::

    out[2i]     = 0.75 * x[i] + 0.25 * x[i - 1]
    out[2i + 1] = 0.75 * x[i] + 0.25 * x[i + 1]

with the edges clamped (``x[-1] = x[0]``, ``x[n] = x[n - 1]``). Bilinear interpolation is
separable: doing rows, then columns, gives the 2-D result.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seg")
class BilinearUpSampling2D(keras.layers.Layer):
    """Double height and width of ``[batch, H, W, C]`` by bilinear interpolation.

    Numerically equal to ``keras.layers.UpSampling2D(2, interpolation="bilinear")`` (channels
    last), but traceable with unknown ``H`` and ``W``. No weights and no options: the inherited
    ``get_config`` (name, dtype, trainable) describes it fully.
    """

    def call(self, inputs):
        x = _upsample_axis(inputs, axis=1)
        return _upsample_axis(x, axis=2)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else 2 * height,
            None if width is None else 2 * width,
            channels,
        )


def _upsample_axis(x, axis: int):
    """Double ``x`` (rank 4) along spatial ``axis`` (1 or 2) with the formulas above."""
    previous = ops.concatenate([_take(x, axis, None, 1), _take(x, axis, None, -1)], axis=axis)
    following = ops.concatenate([_take(x, axis, 1, None), _take(x, axis, -1, None)], axis=axis)
    even = 0.75 * x + 0.25 * previous
    odd = 0.75 * x + 0.25 * following
    # [.., n, 2, ..] -> [.., 2n, ..] puts out[2i], out[2i + 1] side by side.
    interleaved = ops.stack([even, odd], axis=axis + 1)
    shape = list(ops.shape(x))
    shape[0] = -1
    shape[axis] = 2 * shape[axis]
    return ops.reshape(interleaved, shape)


def _take(x, axis: int, start: int | None, stop: int | None):
    """``x[start:stop]`` along ``axis`` (1 or 2)."""
    return x[:, start:stop] if axis == 1 else x[:, :, start:stop]
