"""DeepLabV3+ (Chen et al. 2018, "Encoder-Decoder with Atrous Separable Convolution for Semantic
Image Segmentation") on a pretrained-style encoder.

- ASPP on the encoder's deepest feature: a 1x1 conv, three 3x3 atrous depthwise-separable convs
  (``atrous_rates``) and image pooling (global average, 1x1 conv, broadcast back), each with
  BatchNormalization and ReLU, concatenated and projected by a 1x1 conv (layers ``{name}_aspp_*``).
- Decoder: the ASPP output upsampled to stride 4, concatenated with the stride-4 encoder feature
  reduced to ``low_level_filters`` by a 1x1 conv, then two 3x3 separable convs
  (``{name}_decoder_*``), a 1x1 conv to ``num_classes`` and 4x upsampling to full resolution.

**Output stride 32, not 16.** The paper and segmentation_models_pytorch make the encoder's last
stage atrous (dilated) so the deepest feature is at stride 16. ``keras.applications`` networks are
built with fixed strides, so here ASPP runs at stride 32, the setting the DeepLabV3 paper also
reports (faster, a little less accurate), and the atrous rates are halved to match:
(3, 6, 9) at stride 32 covers what (6, 12, 18) does at stride 16. All upsampling is by repeated
2x bilinear steps (:class:`BilinearUpSampling2D`: traceable with free sizes). Inputs must be
multiples of 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_seg.models import blocks, encoders
from keras_seg.models.bilinear_upsampling import BilinearUpSampling2D

STRIDE = 32


@keras.saving.register_keras_serializable(package="keras_seg")
class BroadcastLike(keras.layers.Layer):
    """``[x, like]`` -> ``x`` (``[batch, 1, 1, C]``) repeated over ``like``'s height and width.

    The image-pooling branch of ASPP needs this at any input size; ``UpSampling2D`` needs a
    fixed factor. No weights and no options.
    """

    def call(self, inputs):
        x, like = inputs
        shape = ops.shape(like)
        return ops.broadcast_to(x, (shape[0], shape[1], shape[2], ops.shape(x)[-1]))

    def compute_output_shape(self, input_shape):
        x_shape, like_shape = input_shape
        return (*like_shape[:3], x_shape[-1])


def deeplabv3_plus(
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 1,
    encoder: str = "resnet34",
    encoder_weights: str | None = None,
    encoder_freeze: bool = False,
    aspp_filters: int = 256,
    atrous_rates: Sequence[int] = (3, 6, 9),
    low_level_filters: int = 48,
    dropout: float = 0.0,
    activation: str | None = "auto",
    name: str = "deeplabv3_plus",
) -> keras.Model:
    """Build a DeepLabV3+.

    Args:
        input_shape: ``(height, width, channels)``; height and width may be ``None``. Fixed
            sizes must be multiples of 32.
        num_classes: 1 for a binary mask (sigmoid), >= 2 for one channel per class (softmax).
        encoder: a name of ``keras_seg.models.encoders.ENCODER_NAMES``.
        encoder_weights: None (random), ``"imagenet"`` or a weights file.
        encoder_freeze: build the encoder frozen (see ``set_encoder_trainable``).
        aspp_filters: features of every ASPP branch and of the decoder.
        atrous_rates: dilation rates of the three atrous ASPP branches (at output stride 32).
        low_level_filters: features the stride-4 encoder feature is reduced to.
        dropout: dropout rate after the ASPP projection; 0 disables it.
        activation: ``"auto"`` (default): float32 sigmoid/softmax probabilities; ``None``:
            float32 logits.
        name: model name and prefix of every layer name.

    Returns:
        A functional ``keras.Model`` mapping ``[batch, H, W, C]`` to float32
        ``[batch, H, W, num_classes]``.

    Raises:
        ValueError: a bad option, or a fixed input size not divisible by 32.
        UserError: encoder weights that cannot be downloaded or read.
    """
    blocks.check_positive_int(aspp_filters, "aspp_filters", name)
    blocks.check_positive_int(low_level_filters, "low_level_filters", name)
    atrous_rates = tuple(atrous_rates)
    if len(atrous_rates) != 3:
        raise ValueError(f"{name}: atrous_rates needs 3 values, got {atrous_rates!r}")
    for rate in atrous_rates:
        blocks.check_positive_int(rate, "each of atrous_rates", name)
    blocks.check_common_options(num_classes, activation, dropout, name)
    encoders.check_encoder_options(encoder, encoder_weights, encoder_freeze, name)
    shape = blocks.check_input_shape(input_shape, STRIDE, name)

    inputs = keras.Input(shape=shape, name=f"{name}_input")
    features = encoders.encoder_features(inputs, encoder, encoder_weights, encoder_freeze, 5, name)
    low_level, deep = features[1], features[4]  # strides 4 and 32

    x = _aspp(deep, aspp_filters, atrous_rates, f"{name}_aspp")
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_aspp_dropout")(x)
    for step in (1, 2, 3):
        x = BilinearUpSampling2D(name=f"{name}_aspp_upsample{step}")(x)
    low = _conv_bn_relu(low_level, low_level_filters, 1, f"{name}_decoder_low")
    x = keras.layers.Concatenate(name=f"{name}_decoder_concat")([x, low])
    for i in (1, 2):
        x = _conv_bn_relu(x, aspp_filters, 3, f"{name}_decoder_conv{i}", separable=True)
    logits = keras.layers.Conv2D(num_classes, 1, name=f"{name}_head")(x)
    for step in (1, 2):
        logits = BilinearUpSampling2D(name=f"{name}_head_upsample{step}")(logits)
    return keras.Model(inputs, blocks.output_activation(logits, num_classes, activation, name),
                       name=name)


def _conv_bn_relu(x, filters: int, kernel_size: int, name: str, separable: bool = False,
                  dilation_rate: int = 1):
    """(Separable) Conv-BN-ReLU without bias; layers ``{name}_conv``, ``_bn``, ``_relu``."""
    conv = keras.layers.SeparableConv2D if separable else keras.layers.Conv2D
    x = conv(filters, kernel_size, padding="same", dilation_rate=dilation_rate, use_bias=False,
             name=f"{name}_conv")(x)
    x = blocks.batch_norm(x, f"{name}_bn")
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _aspp(x, filters: int, rates: tuple[int, ...], name: str):
    """Atrous spatial pyramid pooling with image pooling, projected to ``filters``."""
    branches = [_conv_bn_relu(x, filters, 1, f"{name}_1x1")]
    for i, rate in enumerate(rates, start=1):
        branches.append(_conv_bn_relu(x, filters, 3, f"{name}_atrous{i}", separable=True,
                                      dilation_rate=rate))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pooled = _conv_bn_relu(pooled, filters, 1, f"{name}_pool_proj")
    branches.append(BroadcastLike(name=f"{name}_pool_broadcast")([pooled, x]))
    x = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    return _conv_bn_relu(x, filters, 1, f"{name}_project")
