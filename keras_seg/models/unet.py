"""U-Net (Ronneberger et al. 2015) as trained by the LGG brain-MRI reference kit.

With the defaults (``filters=32``, ``depth=4``, transposed-conv upsampling) and a 256x256x3 input
this is the reference network: (Conv3x3-BN-ReLU) x 2 blocks with 32, 64, 128, 256 features, a
512-feature bottleneck, 2x2 max pooling down, 2x2 stride-2 transposed convolutions up, skip
concatenation and a 1x1 convolution head; 7,763,041 trainable parameters, the count PyTorch
reports for the kit (BatchNormalization's moving statistics are Keras non-trainable weights and
PyTorch buffers, so they are not in either count).

With ``encoder=NAME`` (see ``keras_seg.models.encoders``) the contracting path is a pretrained-style
encoder instead: its features at strides 2, 4, ..., ``2**depth`` are the skips (``depth`` 5 by
default: the whole encoder), its deepest feature replaces the bottleneck, and ``depth`` decoder
blocks (upsample, concatenate the skip of that resolution, (Conv3x3-BN-ReLU) x 2; level ``k``
with ``filters * 2**(k-1)`` features) lead back to full resolution; the last block has no skip
(no encoder has a full-resolution feature), nor does any level the encoder lacks (ConvNeXt has no
stride-2 feature). ``filters=16`` gives segmentation_models_pytorch's decoder (256, 128, 64, 32,
16 features).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_seg.models import blocks, encoders


def unet(
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 1,
    filters: int = 32,
    depth: int | None = None,
    upsampling: str = "transpose",
    dropout: float = 0.0,
    activation: str | None = "auto",
    encoder: str | None = None,
    encoder_weights: str | None = None,
    encoder_freeze: bool = False,
    name: str = "unet",
) -> keras.Model:
    """Build a U-Net.

    Args:
        input_shape: ``(height, width, channels)``; height and width may be ``None``. Fixed
            sizes must be multiples of ``2**depth``.
        num_classes: 1 for a binary mask (sigmoid), >= 2 for one channel per class (softmax).
        filters: features of the first level; each level below doubles them.
        depth: number of 2x2 poolings (the bottleneck has ``filters * 2**depth`` features);
            with an encoder, the number of its strides used (1-5). None: 4, or 5 with an encoder.
        upsampling: ``"transpose"`` (2x2 stride-2 transposed conv, the reference) or
            ``"bilinear"`` (bilinear resize + 1x1 conv, as the DRIVE reference uses).
        dropout: dropout rate after the bottleneck block; 0 disables it.
        activation: ``"auto"`` (default): float32 sigmoid/softmax probabilities; ``None``:
            float32 logits (pair with a loss built with ``from_logits=True``).
        encoder: None (the U-Net's own contracting path) or a name of
            ``keras_seg.models.encoders.ENCODER_NAMES``.
        encoder_weights: with an encoder: None (random), ``"imagenet"`` or a weights file.
        encoder_freeze: with an encoder: build it frozen (see ``set_encoder_trainable``).
        name: model name and prefix of every layer name.

    Returns:
        A functional ``keras.Model`` mapping ``[batch, H, W, C]`` to float32
        ``[batch, H, W, num_classes]``.

    Raises:
        ValueError: a bad option, or a fixed input size not divisible by ``2**depth``.
        UserError: encoder weights that cannot be downloaded or read.
    """
    if encoder is not None:
        return encoder_unet(input_shape, num_classes, filters, 5 if depth is None else depth,
                            upsampling, dropout, activation, encoder, encoder_weights,
                            encoder_freeze, name)
    encoders.check_no_encoder_options(encoder_weights, encoder_freeze, name)
    return build_unet(
        input_shape,
        num_classes,
        filters,
        4 if depth is None else depth,
        upsampling,
        dropout,
        activation,
        name,
        attention=False,
    )


def build_unet(
    input_shape: Sequence[int | None],
    num_classes: int,
    filters: int,
    depth: int,
    upsampling: str,
    dropout: float,
    activation: str | None,
    name: str,
    attention: bool,
) -> keras.Model:
    """The U-Net graph of :func:`unet` and ``attention_unet`` (``attention=True`` gates skips)."""
    blocks.check_positive_int(filters, "filters", name)
    blocks.check_positive_int(depth, "depth", name)
    blocks.check_common_options(num_classes, activation, dropout, name, upsampling)
    shape = blocks.check_input_shape(input_shape, 2**depth, name)

    inputs = keras.Input(shape=shape, name=f"{name}_input")
    x, skips = blocks.encoder(inputs, filters, depth, name)
    x = blocks.bottleneck(x, filters * 2**depth, dropout, name)
    for level in range(depth, 0, -1):
        x = blocks.decoder_block(
            x,
            skips[level - 1],
            filters * 2 ** (level - 1),
            upsampling,
            f"{name}_dec{level}",
            attention=attention,
        )
    outputs = blocks.segmentation_head(x, num_classes, activation, name)
    return keras.Model(inputs, outputs, name=name)


def encoder_unet(
    input_shape: Sequence[int | None],
    num_classes: int,
    filters: int,
    depth: int,
    upsampling: str,
    dropout: float,
    activation: str | None,
    encoder: str,
    encoder_weights: str | None,
    encoder_freeze: bool,
    name: str,
) -> keras.Model:
    """The U-Net of :func:`unet` with ``encoder`` as its contracting path (module docstring)."""
    blocks.check_positive_int(filters, "filters", name)
    blocks.check_positive_int(depth, "depth", name)
    blocks.check_common_options(num_classes, activation, dropout, name, upsampling)
    encoders.check_encoder_options(encoder, encoder_weights, encoder_freeze, name)
    shape = blocks.check_input_shape(input_shape, 2**depth, name)

    inputs = keras.Input(shape=shape, name=f"{name}_input")
    features = encoders.encoder_features(
        inputs, encoder, encoder_weights, encoder_freeze, depth, name
    )
    *skips, x = features
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_encoder_dropout")(x)
    skips = [None, *skips]  # skips[k - 1]: the feature at stride 2**(k - 1); none at full size
    for level in range(depth, 0, -1):
        x = blocks.decoder_block(
            x, skips[level - 1], filters * 2 ** (level - 1), upsampling, f"{name}_dec{level}"
        )
    outputs = blocks.segmentation_head(x, num_classes, activation, name)
    return keras.Model(inputs, outputs, name=name)
