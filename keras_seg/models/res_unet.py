"""U-Net with a ResNet34 encoder (He et al. 2016), built with the functional API.

Encoder: the ResNet34 feature extractor (7x7 stride-2 stem, 3x3 stride-2 max pooling, four stages
of 3, 4, 6 and 3 basic blocks with 64, 128, 256 and 512 features; no classifier). Decoder: five
U-Net decoder blocks (upsample, concatenate the encoder feature of the same resolution, (Conv3x3-
BN-ReLU) x 2) with ``decoder_filters`` features, from stride 32 back to full resolution; the
last one has no skip (the encoder has no full-resolution feature). Inputs must be multiples of 32.

Strided convolutions and the stem pooling pad like PyTorch (explicit symmetric zero padding), and
BatchNormalization uses PyTorch's epsilon, so weights converted from torchvision give the same
features. Encoder layers are named after torchvision's ``state_dict`` keys: ``conv1``, ``bn1``,
``layer{s}_{b}_conv1``, ``layer{s}_{b}_downsample_0``, ... behind the prefix ``{name}_encoder``
(``res_unet_encoder_layer2_0_conv1`` is torchvision's ``layer2.0.conv1``).

Nothing is downloaded, ever. To start from ImageNet weights, convert them once, where torchvision
is installed, and pass the file as ``encoder_weights``::

    import torchvision
    from keras_seg.models.res_unet import resnet34_encoder, set_torchvision_weights

    state = torchvision.models.resnet34(weights="IMAGENET1K_V1").state_dict()
    encoder = resnet34_encoder(input_shape=(None, None, 3))
    set_torchvision_weights(encoder, {k: v.numpy() for k, v in state.items()})
    encoder.save_weights("resnet34_imagenet.weights.h5")

    model = res_unet(input_shape=(256, 256, 3), encoder_weights="resnet34_imagenet.weights.h5")

ImageNet weights expect 3-channel inputs scaled to [0, 1] and normalised with the ImageNet mean
(0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225); a file saved from
:func:`resnet34_encoder` loads into any ``res_unet`` with the same channel count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np

from keras_seg.models import blocks

STAGE_BLOCKS = (3, 4, 6, 3)
STAGE_FILTERS = (64, 128, 256, 512)
STRIDE = 32


def res_unet(
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 1,
    encoder_weights: str | None = None,
    decoder_filters: Sequence[int] = (256, 128, 64, 32, 16),
    upsampling: str = "transpose",
    dropout: float = 0.0,
    activation: str | None = "auto",
    name: str = "res_unet",
) -> keras.Model:
    """Build a U-Net with a ResNet34 encoder.

    Args:
        input_shape: ``(height, width, channels)``; height and width may be ``None``. Fixed
            sizes must be multiples of 32.
        num_classes: 1 for a binary mask (sigmoid), >= 2 for one channel per class (softmax).
        encoder_weights: ``None`` (random initialisation) or the path of a ``.weights.h5`` file
            saved from :func:`resnet34_encoder` (see the module docstring for ImageNet weights).
        decoder_filters: features of the five decoder blocks, deepest first.
        upsampling: ``"transpose"`` or ``"bilinear"`` (see ``blocks.upsample``).
        dropout: dropout rate on the deepest encoder feature; 0 disables it.
        activation: ``"auto"`` (default): float32 sigmoid/softmax probabilities; ``None``:
            float32 logits.
        name: model name and prefix of every layer name.

    Returns:
        A functional ``keras.Model`` mapping ``[batch, H, W, C]`` to float32
        ``[batch, H, W, num_classes]``.

    Raises:
        ValueError: a bad option, a fixed input size not divisible by 32, or an
            ``encoder_weights`` file that does not exist.
    """
    blocks.check_common_options(num_classes, activation, dropout, name, upsampling)
    decoder_filters = tuple(decoder_filters)
    if len(decoder_filters) != 5:
        raise ValueError(
            f"{name}: decoder_filters needs 5 values (one per decoder block), "
            f"got {decoder_filters!r}"
        )
    for value in decoder_filters:
        blocks.check_positive_int(value, "each of decoder_filters", name)
    if encoder_weights is not None and not str(encoder_weights).endswith(".weights.h5"):
        raise ValueError(
            f"{name}: encoder_weights must be None or a '.weights.h5' file, got {encoder_weights!r}"
        )
    shape = blocks.check_input_shape(input_shape, STRIDE, name)

    inputs = keras.Input(shape=shape, name=f"{name}_input")
    features = _resnet34_features(inputs, f"{name}_encoder")
    if encoder_weights is not None:
        encoder_view = keras.Model(inputs, features, name=f"{name}_encoder")
        try:
            encoder_view.load_weights(encoder_weights)
        except FileNotFoundError as error:
            raise ValueError(
                f"{name}: encoder_weights file not found: {encoder_weights}"
            ) from error

    *skips, x = features
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_encoder_dropout")(x)
    skips = [None, *skips]  # the full-resolution decoder block has no skip
    for level, filters in zip(range(5, 0, -1), decoder_filters, strict=True):
        x = blocks.decoder_block(x, skips[level - 1], filters, upsampling, f"{name}_dec{level}")
    outputs = blocks.segmentation_head(x, num_classes, activation, name)
    return keras.Model(inputs, outputs, name=name)


def resnet34_encoder(
    input_shape: Sequence[int | None] = (None, None, 3), name: str = "resnet34"
) -> keras.Model:
    """The ResNet34 encoder alone, with the layers (and weight-file layout) ``res_unet`` uses.

    Returns:
        A ``keras.Model`` with five outputs: the features at strides 2 (stem, 64), 4 (64),
        8 (128), 16 (256) and 32 (512).
    """
    shape = blocks.check_input_shape(input_shape, STRIDE, name)
    inputs = keras.Input(shape=shape, name=f"{name}_input")
    return keras.Model(inputs, _resnet34_features(inputs, name), name=name)


def set_torchvision_weights(encoder: keras.Model, state_dict: Mapping[str, np.ndarray]) -> None:
    """Copy a torchvision ``resnet34`` ``state_dict`` (arrays) into ``encoder``'s layers.

    Args:
        encoder: a model from :func:`resnet34_encoder` (its name is the layer-name prefix).
        state_dict: torchvision key -> array (``conv1.weight``, ``bn1.running_mean``, ...);
            convolution kernels in PyTorch's ``(out, in, h, w)`` layout. ``fc.*`` is ignored.

    Raises:
        KeyError: a key the encoder needs is missing from ``state_dict``.
    """
    prefix = f"{encoder.name}_"
    for layer in encoder.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.BatchNormalization)):
            continue
        key = layer.name.removeprefix(prefix).replace("_", ".")
        if isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([np.transpose(np.asarray(state_dict[f"{key}.weight"]), (2, 3, 1, 0))])
        else:
            layer.set_weights(
                [
                    np.asarray(state_dict[f"{key}.{field}"])
                    for field in ("weight", "bias", "running_mean", "running_var")
                ]
            )


def _conv_bn(x, filters: int, kernel_size: int, strides: int, conv_name: str, bn_name: str):
    """Conv (no bias) -> BN, padded like PyTorch (``kernel_size // 2`` on each side)."""
    if kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{conv_name}_pad")(x)
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        use_bias=False,
        kernel_initializer="he_normal",
        name=conv_name,
    )(x)
    return blocks.batch_norm(x, bn_name)


def _basic_block(x, filters: int, strides: int, name: str):
    """ResNet basic block: two 3x3 conv-BN, identity (or 1x1 conv-BN) shortcut, add, ReLU."""
    y = _conv_bn(x, filters, 3, strides, f"{name}_conv1", f"{name}_bn1")
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv_bn(y, filters, 3, 1, f"{name}_conv2", f"{name}_bn2")
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, strides, f"{name}_downsample_0", f"{name}_downsample_1")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_relu2")(y)


def _resnet34_features(inputs, name: str) -> list:
    """ResNet34 graph on ``inputs``; returns the features at strides 2, 4, 8, 16 and 32."""
    x = _conv_bn(inputs, 64, 7, 2, f"{name}_conv1", f"{name}_bn1")
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    features = [x]
    # Zero padding equals PyTorch's -inf padding here: the input is non-negative after the ReLU.
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_maxpool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_maxpool")(x)
    for stage, (count, filters) in enumerate(
        zip(STAGE_BLOCKS, STAGE_FILTERS, strict=True), start=1
    ):
        for block in range(count):
            strides = 2 if stage > 1 and block == 0 else 1
            x = _basic_block(x, filters, strides, f"{name}_layer{stage}_{block}")
        features.append(x)
    return features
