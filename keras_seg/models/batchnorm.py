"""``keras.layers.BatchNormalization`` that trains through TensorFlow's fused kernel.

Keras 3 computes a training BatchNormalization from backend-neutral ops: ``tf.nn.moments`` (a mean,
a squared difference, another mean) and ``tf.nn.batch_normalization`` (a multiply and an add),
whose gradients are a dozen more full-tensor passes. On a CPU these elementwise passes, not the
convolutions, took most of a U-Net training step (profiled: ``Mul``, ``Sum``, ``Sub``, ``Tile``
and ``Mean`` together longer than every convolution, forward and backward). TensorFlow has one
kernel for the forward pass and one for its gradient (``FusedBatchNormV3`` and its registered
``FusedBatchNormGradV3``; oneDNN's on x86, cuDNN's on a GPU), the kernels Keras 2 used.

:class:`BatchNormalization` is Keras' layer, same arguments, weights and config, whose training
call on the TensorFlow backend runs those kernels. It computes what Keras' own call computes:
normalisation by the biased batch variance, and moving statistics updated with it (the fused
kernel returns the unbiased variance, which is rescaled by ``(n - 1) / n``, and 0 for a single
value per channel, where cuDNN returns NaN); float16 and bfloat16 inputs are cast to float32
first, as Keras does. Everything else is Keras' call unchanged: inference, a frozen layer, the
JAX and torch backends, masks, batch renormalisation, ``synchronized=True``, float64, any layout
other than channels-last 4-D, and a step compiled with XLA (``jit_compile=True``), whose
``FusedBatchNormV3`` computes the variance as E[x^2] - E[x]^2 and loses it, even to a negative
value and NaN outputs, when the mean is large against the spread.
"""

from __future__ import annotations

import keras

from keras_seg import backend

# cuDNN refuses a smaller epsilon; TensorFlow's own fused_batch_norm raises it to this too.
_CUDNN_MIN_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(package="keras_seg")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with TensorFlow's fused training kernel (module doc)."""

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, "float32")
        channels = x.shape[-1]
        scale = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        offset = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        epsilon = self.epsilon
        if epsilon < _CUDNN_MIN_EPSILON and backend.has_gpu():
            epsilon = _CUDNN_MIN_EPSILON
        y, mean, unbiased, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=scale, offset=offset, mean=tf.zeros([0]), variance=tf.zeros([0]),
            epsilon=epsilon, exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        count = tf.cast(tf.size(x, out_type=tf.int64) // channels, "float32")
        variance = tf.where(count > 1.0, unbiased * ((count - 1.0) / count), 0.0)
        self.moving_mean.assign(
            tf.cast(self.moving_mean, "float32") * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            tf.cast(self.moving_variance, "float32") * self.momentum
            + variance * (1.0 - self.momentum))
        return tf.cast(y, self.compute_dtype)

    def _fused(self, inputs, training, mask) -> bool:
        """Whether this call takes the fused kernel (training, channels-last 4-D, TensorFlow,
        at most float32, not inside an XLA compilation)."""
        return (bool(training) and self.trainable and mask is None and not self.renorm
                and not self.synchronized and len(inputs.shape) == 4
                and self.axis in (-1, 3) and inputs.shape[-1] is not None
                and keras.backend.standardize_dtype(inputs.dtype) != "float64"
                and self.compute_dtype != "float64"
                and backend.current() == "tensorflow" and not _in_xla())


def _in_xla() -> bool:
    """Whether TensorFlow is tracing a function compiled with XLA (``jit_compile=True``)."""
    try:
        import tensorflow as tf
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - TensorFlow's internal module moved
        return False
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
