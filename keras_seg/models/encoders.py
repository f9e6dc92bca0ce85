"""Pretrained-style encoders from ``keras.applications`` (plus our ResNet34), shared by decoders.

One table, :data:`ENCODERS`, says for each encoder name which application builds it, which input
preprocessing its ImageNet weights were trained with, and which layers give its skip features at
strides 2, 4, 8, 16 and 32 (``None`` where it has none: ConvNeXt starts with a stride-4 stem).
A feature entry is a layer name (its output), ``"LAYER:input"`` (the input of that layer, for
block outputs whose own layer has an automatic, unstable name) or ``":output"`` (the
application's output).

:func:`encoder_features` is what every decoder calls. It adds two things to the model:

- ``{name}_preprocess``: a :class:`ChannelAffine` that maps the readers' z-scored channels to the
  values the encoder's first convolution saw in ImageNet training (the application's own
  ``Rescaling`` / ``Normalization`` layers and ``preprocess_input`` are replaced by it);
- ``{name}_encoder_<Keras' layer name>``: the application's layers after its own preprocessing,
  cloned into the model's graph for its channel count, holding the requested weights with the
  first convolution adapted to that channel count.

``docs/encoders.md`` explains the preprocessing constants and the channel adaptation.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from keras_seg.errors import UserError
from keras_seg.models import blocks
from keras_seg.models.batchnorm import BatchNormalization
from keras_seg.models.preprocessing import ChannelAffine
from keras_seg.models.res_unet import resnet34_encoder

STRIDES = (2, 4, 8, 16, 32)
ENCODER_SUFFIX = "_encoder"
# What the readers deliver is a z-score per channel; a z-scored channel is taken to be an
# ImageNet-normalised one, i.e. the raw 0-255 RGB value 255 * (mean + std * z).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
# raw 0-255 RGB -> first-convolution input, per preprocessing mode: (scale, offset) per channel.
PREPROCESSING = {
    # keras.applications.resnet / vgg16 / vgg19 preprocess_input: BGR, minus the mean. The
    # first kernel is flipped to RGB order when weights are loaded, so the map is per RGB channel.
    "caffe": ((1.0, 1.0, 1.0), tuple(-m for m in CAFFE_MEAN_RGB)),
    # resnet_v2 / mobilenet_v2 preprocess_input, MobileNetV3's Rescaling layer: [-1, 1].
    "tf": ((1 / 127.5,) * 3, (-1.0,) * 3),
    # EfficientNetV2-S/M/L's Rescaling layer.
    "tf128": ((1 / 128.0,) * 3, (-1.0,) * 3),
    # densenet preprocess_input, EfficientNetV2-B*'s and ConvNeXt's Normalization layers, and the
    # torchvision ResNet34.
    "torch": (
        tuple(1 / (255 * s) for s in IMAGENET_STD),
        tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)),
    ),
    # EfficientNet B0-B7 with ImageNet weights: Rescaling(1/255), Normalization (mean, std) and a
    # second division by sqrt(std) (keras.applications.efficientnet, tensorflow issue 49930).
    "efficientnet": (
        tuple(1 / (255 * s * math.sqrt(s)) for s in IMAGENET_STD),
        tuple(-m / (s * math.sqrt(s)) for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)),
    ),
}
# Layers an application uses for its own input preprocessing; the encoder starts after them.
_PREPROCESSING_LAYERS = (
    keras.layers.InputLayer, keras.layers.Rescaling, keras.layers.Normalization
)


@dataclass(frozen=True)
class EncoderSpec:
    """One row of the encoder table.

    Attributes:
        application: builds the ImageNet network: ``f(include_top=False, weights=...,
            input_shape=(None, None, 3))``; ``weights`` is None, ``"imagenet"`` or a file path.
        preprocessing: key of :data:`PREPROCESSING`.
        features: the skip features at strides 2, 4, 8, 16, 32 (see the module docstring).
    """

    application: Callable[..., keras.Model]
    preprocessing: str
    features: tuple[str | None, ...]


def _resnet34(include_top: bool = False, weights: str | None = None, input_shape=None):
    """ResNet34 (torchvision layout) for the table; ImageNet weights come from a converted file."""
    if weights == "imagenet":
        raise UserError(
            "encoder 'resnet34' has no Keras ImageNet weights: convert torchvision's once with "
            "keras_seg.models.res_unet.set_torchvision_weights (see its docstring) and pass the "
            "file as encoder_weights"
        )
    model = resnet34_encoder(input_shape=input_shape)
    if weights is not None:
        model.load_weights(weights)
    return model


def _resnet(app, blocks3: int, blocks4: int) -> EncoderSpec:
    return EncoderSpec(app, "caffe", ("conv1_relu", "conv2_block3_out", f"conv3_block{blocks3}_out",
                                      f"conv4_block{blocks4}_out", "conv5_block3_out"))


def _resnet_v2(app, blocks3: int, blocks4: int) -> EncoderSpec:
    # Pre-activation ResNet: a stage downsamples in its last block, whose pre-activation
    # (BN-ReLU of the previous block's sum) is the last feature at the stage's resolution.
    return EncoderSpec(app, "tf", ("conv1_conv", "conv2_block3_preact_relu",
                                   f"conv3_block{blocks3}_preact_relu",
                                   f"conv4_block{blocks4}_preact_relu", "post_relu"))


def _efficientnet(app) -> EncoderSpec:
    return EncoderSpec(app, "efficientnet", (
        "block2a_expand_activation", "block3a_expand_activation", "block4a_expand_activation",
        "block6a_expand_activation", "top_activation"))


def _efficientnet_v2(app, preprocessing: str) -> EncoderSpec:
    # Stage outputs end in unnamed or variant-specific layers; the input of the next stage's
    # first expansion is the same tensor in every variant.
    return EncoderSpec(app, preprocessing, (
        "block2a_expand_conv:input", "block3a_expand_conv:input", "block4a_expand_conv:input",
        "block6a_expand_conv:input", "top_activation"))


def _convnext(app, prefix: str) -> EncoderSpec:
    # Stride-4 stem, no stride-2 feature; block outputs are unnamed residual additions.
    return EncoderSpec(app, "torch", (
        None, f"{prefix}_downsampling_block_0:input", f"{prefix}_downsampling_block_1:input",
        f"{prefix}_downsampling_block_2:input", ":output"))


def _densenet(app) -> EncoderSpec:
    # The BN-ReLU at the start of each transition is the dense block's normalised output.
    return EncoderSpec(app, "torch", ("conv1_relu", "pool2_relu", "pool3_relu", "pool4_relu",
                                      "relu"))


def _vgg(app, convs: int) -> EncoderSpec:
    # VGG's first block runs at full resolution; its stride-2 feature is block 2's last conv.
    return EncoderSpec(app, "caffe", ("block2_conv2", f"block3_conv{convs}", f"block4_conv{convs}",
                                      f"block5_conv{convs}", "block5_pool"))


_A = keras.applications
ENCODERS: dict[str, EncoderSpec] = {
    "resnet34": EncoderSpec(_resnet34, "torch", (
        "resnet34_relu", "resnet34_layer1_2_relu2", "resnet34_layer2_3_relu2",
        "resnet34_layer3_5_relu2", "resnet34_layer4_2_relu2")),
    "resnet50": _resnet(_A.ResNet50, 4, 6),
    "resnet101": _resnet(_A.ResNet101, 4, 23),
    "resnet152": _resnet(_A.ResNet152, 8, 36),
    "resnet50v2": _resnet_v2(_A.ResNet50V2, 4, 6),
    "resnet101v2": _resnet_v2(_A.ResNet101V2, 4, 23),
    "resnet152v2": _resnet_v2(_A.ResNet152V2, 8, 36),
    **{f"efficientnetb{i}": _efficientnet(getattr(_A, f"EfficientNetB{i}")) for i in range(8)},
    **{f"efficientnetv2b{i}": _efficientnet_v2(getattr(_A, f"EfficientNetV2B{i}"), "torch")
       for i in range(4)},
    **{f"efficientnetv2{v.lower()}": _efficientnet_v2(getattr(_A, f"EfficientNetV2{v}"), "tf128")
       for v in ("S", "M", "L")},
    **{f"convnext{v.lower()}": _convnext(getattr(_A, f"ConvNeXt{v}"), f"convnext_{v.lower()}")
       for v in ("Tiny", "Small", "Base", "Large", "XLarge")},
    "densenet121": _densenet(_A.DenseNet121),
    "densenet169": _densenet(_A.DenseNet169),
    "densenet201": _densenet(_A.DenseNet201),
    "mobilenetv2": EncoderSpec(_A.MobileNetV2, "tf", (
        "block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
        "block_13_expand_relu", "out_relu")),
    "mobilenetv3small": EncoderSpec(_A.MobileNetV3Small, "tf", (
        "expanded_conv_depthwise_pad:input", "expanded_conv_project_bn", "expanded_conv_2_add",
        "expanded_conv_7_add", ":output")),
    "mobilenetv3large": EncoderSpec(_A.MobileNetV3Large, "tf", (
        "expanded_conv_add", "expanded_conv_2_add", "expanded_conv_5_add",
        "expanded_conv_11_add", ":output")),
    "vgg16": _vgg(_A.VGG16, 3),
    "vgg19": _vgg(_A.VGG19, 4),
}
ENCODER_NAMES = tuple(ENCODERS)


def check_encoder_options(encoder: str, weights: str | None, freeze: bool, model_name: str) -> None:
    """Raise ``ValueError`` naming a bad ``encoder``, ``encoder_weights`` or ``encoder_freeze``."""
    if encoder not in ENCODERS:
        raise ValueError(
            f"{model_name}: unknown encoder {encoder!r}; valid encoders: {', '.join(ENCODER_NAMES)}"
        )
    if weights is not None and not isinstance(weights, str):
        raise ValueError(
            f"{model_name}: encoder_weights must be 'imagenet', None or a file path, "
            f"got {weights!r}"
        )
    if not isinstance(freeze, bool):
        raise ValueError(f"{model_name}: encoder_freeze must be True or False, got {freeze!r}")


def check_no_encoder_options(weights: str | None, freeze: bool, model_name: str) -> None:
    """Raise ``ValueError`` when encoder options are given to a model without an encoder."""
    if weights is not None or freeze:
        raise ValueError(
            f"{model_name}: encoder_weights and encoder_freeze need an encoder (encoder=NAME)"
        )


def encoder_features(
    inputs,
    encoder: str,
    weights: str | None,
    freeze: bool,
    depth: int,
    name: str,
) -> list:
    """Preprocess ``inputs`` and run the encoder on them; the skip features, shallowest first.

    Args:
        inputs: the model's input tensor ``[batch, H, W, C]`` (z-scored channels, any ``C``).
        encoder: a key of :data:`ENCODERS`.
        weights: None (random initialisation), ``"imagenet"`` (Keras' download, cached in
            ``~/.keras/models``) or the path of a weights file of the application (a Keras
            ``*_notop.h5`` download or a ``.weights.h5`` saved from the application).
        freeze: build the encoder frozen (not trainable; its BatchNormalization then runs in
            inference mode), see :func:`set_encoder_trainable`.
        depth: how many of the strides 2, 4, 8, 16, 32 to use (1-5).
        name: the model's name: the new layers are ``{name}_preprocess`` and
            ``{name}_encoder_<Keras' layer name>``.

    Returns:
        ``depth`` entries: the feature at stride ``2**k`` for k = 1..depth, or None where the
        encoder has none.

    Raises:
        ValueError: a bad option, or a depth whose deepest feature the encoder lacks.
        UserError: weights that cannot be downloaded or read.
    """
    spec = ENCODERS[encoder]
    if depth not in range(1, len(STRIDES) + 1) or spec.features[depth - 1] is None:
        raise ValueError(f"{name}: encoder {encoder!r} takes depth 1-{len(STRIDES)}, got {depth!r}")
    channels = inputs.shape[-1]
    body = _body(_build_application(encoder, spec, weights), spec, depth)
    scale, offset = preprocessing_affine(spec.preprocessing, channels)
    preprocess = ChannelAffine(scale, offset, name=f"{name}_preprocess")
    prefix = f"{name}{ENCODER_SUFFIX}_"

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config["name"] = prefix + layer.name
        if isinstance(layer, keras.layers.BatchNormalization):
            config["momentum"] = blocks.BN_MOMENTUM  # see blocks.py: short trainings
            # Keras' layer with TensorFlow's fused training kernel (keras_seg.models.batchnorm)
            return BatchNormalization.from_config(config)
        if isinstance(layer, keras.Sequential):  # ConvNeXt's stem: built on its call instead
            config.pop("build_input_shape", None)
            config["layers"] = [{k: v for k, v in c.items() if k != "build_config"}
                                for c in config["layers"] if c["class_name"] != "InputLayer"]
        return layer.__class__.from_config(config)

    def call(layer: keras.layers.Layer, *args, **kwargs):
        if args and args[0] is inputs:  # the encoder's first layer reads the preprocessed input
            args = (preprocess(inputs), *args[1:])
        return layer(*args, **kwargs)

    # Cloning onto the model's own input puts the encoder's layers in the model's graph (no
    # nested model) and builds the first convolution for ``channels`` inputs.
    cloned = keras.models.clone_model(body, input_tensors=inputs, clone_function=clone,
                                      call_function=call)
    encoder_layers = [layer for layer in cloned.layers if layer.name.startswith(prefix)]
    if weights is not None:
        _copy_weights(body, encoder_layers, prefix, spec.preprocessing == "caffe", channels)
    for layer in encoder_layers:
        layer.trainable = not freeze
    outputs = iter(keras.tree.flatten(cloned.outputs))
    return [None if f is None else next(outputs) for f in spec.features[:depth]]


def encoder_model(
    encoder: str, channels: int, weights: str | None = None, depth: int = 5,
    name: str = "features",
) -> keras.Model:
    """Preprocessing and encoder alone: ``[batch, H, W, channels]`` -> the skip features.

    Outputs are the features at strides 2, 4, ..., ``2**depth`` that the encoder has (ConvNeXt
    has no stride-2 one), shallowest first. See :func:`encoder_features` for the arguments.
    """
    inputs = keras.Input(shape=(None, None, channels), name=f"{name}_input")
    features = encoder_features(inputs, encoder, weights, False, depth, name)
    return keras.Model(inputs, [f for f in features if f is not None], name=name)


def preprocessing_affine(mode: str, channels: int) -> tuple[list[float], list[float]]:
    """Per-channel ``(scale, offset)`` from a z-scored channel to the first convolution's input.

    A z-scored channel ``z`` is read as the raw RGB value ``255 * (mean + std * z)`` (ImageNet
    mean and std), which the encoder's own preprocessing maps to ``a * raw + b``. Channel ``i``
    of a model with ``channels != 3`` inputs uses RGB channel ``i % 3``'s constants; one
    channel uses the mean of the three (matching :func:`adapt_first_kernel`).
    """
    raw_scale, raw_offset = PREPROCESSING[mode]
    scale = [a * 255 * s for a, s in zip(raw_scale, IMAGENET_STD, strict=True)]
    offset = [a * 255 * m + b for a, m, b in zip(raw_scale, IMAGENET_MEAN, raw_offset, strict=True)]
    if channels == 1:
        return [sum(scale) / 3], [sum(offset) / 3]
    return [scale[i % 3] for i in range(channels)], [offset[i % 3] for i in range(channels)]


def adapt_first_kernel(kernel: np.ndarray, channels: int) -> np.ndarray:
    """An RGB first-convolution kernel ``(kh, kw, 3, out)`` for ``channels`` input channels.

    As segmentation_models_pytorch's ``patch_first_conv``: one channel gets the sum of the RGB
    kernels (a grey image repeated three times gives the same output); otherwise channel ``i``
    gets RGB kernel ``i % 3``, all scaled by ``3 / channels`` so the output keeps its scale.
    """
    if channels == 3:
        return kernel
    if channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    return kernel[:, :, [i % 3 for i in range(channels)], :] * (3 / channels)


def set_encoder_trainable(model: keras.Model, trainable: bool) -> None:
    """Freeze (``False``) or unfreeze (``True``) the encoder of a model built with ``encoder=``.

    A frozen encoder's weights are not trained and its BatchNormalization layers run in inference
    mode (Keras 3 does so for non-trainable BatchNormalization), as Keras' transfer-learning guide
    recommends. Compile the model again after calling this: Keras fixes the trainable weights at
    compile time. Works on a model loaded from ``.keras`` too: the encoder's layers are the ones
    named ``{model.name}_encoder_*``, and their trainable state is saved with the model.

    Raises:
        ValueError: ``model`` has no encoder.
    """
    prefix = f"{model.name}{ENCODER_SUFFIX}_"
    layers = [layer for layer in model.layers if layer.name.startswith(prefix)]
    if not layers:
        raise ValueError(
            f"model {model.name!r} has no pretrained-style encoder (build it with encoder=NAME)"
        )
    for layer in layers:
        layer.trainable = bool(trainable)


def _feature_tensor(application: keras.Model, feature: str):
    """The tensor a table entry names (see the module docstring)."""
    if feature == ":output":
        return application.output
    layer_name, _, where = feature.partition(":")
    layer = application.get_layer(layer_name)
    return layer.input if where == "input" else layer.output


def _body(application: keras.Model, spec: EncoderSpec, depth: int) -> keras.Model:
    """``application`` from after its own preprocessing layers to the table's features."""
    layers = application.layers
    start = next(
        i for i, layer in enumerate(layers) if not isinstance(layer, _PREPROCESSING_LAYERS)
    )
    wanted = [_feature_tensor(application, f) for f in spec.features[:depth] if f is not None]
    return keras.Model(layers[start].input, wanted)


def _build_application(encoder: str, spec: EncoderSpec, weights: str | None) -> keras.Model:
    """The RGB application with ``weights``; a download or file failure is a one-line UserError."""
    if weights not in (None, "imagenet"):
        path = os.path.expanduser(weights)
        if not os.path.isfile(path):
            raise UserError(f"encoder_weights file not found: {weights}")
        weights = path
    try:
        return spec.application(include_top=False, weights=weights, input_shape=(None, None, 3))
    except UserError:
        raise
    except Exception as error:  # Keras raises a bare Exception for a failed download
        message = str(error)
        if weights == "imagenet":
            url = re.search(r"https?://\S+?\.h5", message)
            where = "~/.keras/models/" + (url.group(0).rsplit("/", 1)[-1] if url else "")
            raise UserError(
                f"cannot download the ImageNet weights of encoder {encoder!r} "
                f"({url.group(0) if url else message.splitlines()[0]}): put that file at {where} "
                "(Keras' cache) or pass its path as encoder_weights"
            ) from None
        raise UserError(
            f"cannot load encoder_weights {weights} into encoder {encoder!r}: "
            f"{message.splitlines()[0] if message else type(error).__name__}"
        ) from None


def _copy_weights(source: keras.Model, layers: list, prefix: str, bgr: bool,
                  channels: int) -> None:
    """Copy ``source``'s weights (the RGB application) into its clones ``layers`` (named
    ``prefix`` + the source layer's name), flipping the first kernel from BGR when ``bgr`` and
    adapting it to ``channels`` inputs."""
    first = True
    for layer in layers:
        if not layer.weights:
            continue
        values = source.get_layer(layer.name.removeprefix(prefix)).get_weights()
        if first:
            kernel = values[0][:, :, ::-1, :] if bgr else values[0]
            values = [adapt_first_kernel(kernel, channels), *values[1:]]
            first = False
        layer.set_weights(values)
