"""Building blocks shared by the keras-seg model builders.

Every function here takes a Keras tensor and a ``name`` prefix and returns a Keras tensor; every
layer it creates is named from that prefix, so model summaries and weight files are stable.

Batch normalisation uses PyTorch's defaults (``momentum=0.9`` in Keras terms, ``epsilon=1e-5``),
the settings the reference kits were trained with: Keras' own default momentum (0.99) lets the
moving statistics lag far behind the weights in short trainings, and validation then scores a
model that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_seg.models.batchnorm import BatchNormalization
from keras_seg.models.bilinear_upsampling import BilinearUpSampling2D

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
UPSAMPLING_MODES = ("transpose", "bilinear")
ACTIVATIONS = ("auto", None, "sigmoid", "softmax")


def check_input_shape(input_shape: Sequence[int | None], divisor: int, model_name: str) -> tuple:
    """Validate ``(height, width, channels)`` for a network whose total stride is ``divisor``.

    Args:
        input_shape: ``(height, width, channels)``; height and width may be ``None``
            (any size that is a multiple of ``divisor`` is then accepted at call time).
        divisor: total downsampling factor of the network (``2**depth``).
        model_name: used in the error messages.

    Returns:
        The shape as a tuple.

    Raises:
        ValueError: wrong rank, unknown or non-positive channel count, or a fixed spatial size
            that is not a positive multiple of ``divisor``.
    """
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(
            f"{model_name}: input_shape must be (height, width, channels), got {shape!r}"
        )
    height, width, channels = shape
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(
            f"{model_name}: the channel count must be a positive integer, got {channels!r}"
        )
    for axis, size in (("height", height), ("width", width)):
        if size is None:
            continue
        if not isinstance(size, int) or size < 1 or size % divisor:
            if isinstance(size, int) and size > divisor:
                nearest = f"{size // divisor * divisor} or {(size // divisor + 1) * divisor}"
            else:
                nearest = str(divisor)
            raise ValueError(
                f"{model_name}: input {axis} {size!r} is not divisible by {divisor} "
                f"(the network downsamples by {divisor}); use a multiple of {divisor} "
                f"such as {nearest}, or None"
            )
    return shape


def check_common_options(
    num_classes: int,
    activation: str | None,
    dropout: float,
    model_name: str,
    upsampling: str = "transpose",
) -> None:
    """Validate the options every builder shares; raise ``ValueError`` naming the bad one."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{model_name}: num_classes must be an integer >= 1, got {num_classes!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{model_name}: activation must be 'auto', None, 'sigmoid' or 'softmax', "
            f"got {activation!r}"
        )
    if activation == "softmax" and num_classes == 1:
        raise ValueError(
            f"{model_name}: softmax over a single class is constant 1; "
            "use num_classes=1 with 'sigmoid' or num_classes>=2 with 'softmax'"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{model_name}: dropout must be in [0, 1), got {dropout!r}")
    if upsampling not in UPSAMPLING_MODES:
        raise ValueError(
            f"{model_name}: upsampling must be one of {', '.join(UPSAMPLING_MODES)}, "
            f"got {upsampling!r}"
        )


def check_positive_int(value: int, option: str, model_name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1."""
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{model_name}: {option} must be an integer >= 1, got {value!r}")


def batch_norm(x, name: str):
    """BatchNormalization with the PyTorch-default statistics settings (see module docstring),
    trained through TensorFlow's fused kernel there (:mod:`keras_seg.models.batchnorm`)."""
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)


def conv_block(x, filters: int, name: str):
    """(Conv3x3-BN-ReLU) x 2, the U-Net block; layers ``{name}_conv1``, ``{name}_bn1``, ...

    The convolutions have no bias: the BatchNormalization after each one has its own offset.
    """
    for i in (1, 2):
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            name=f"{name}_conv{i}",
        )(x)
        x = batch_norm(x, f"{name}_bn{i}")
        x = keras.layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def upsample(x, filters: int, mode: str, name: str):
    """Double the spatial size and project to ``filters`` channels.

    ``"transpose"``: Conv2DTranspose 2x2, stride 2, with bias (layer ``{name}_upconv``).
    ``"bilinear"``: :class:`BilinearUpSampling2D` (``{name}_upsample``; the values of Keras'
    bilinear UpSampling2D, but exportable with free spatial sizes) then a 1x1 conv with bias
    (``{name}_proj``), so both modes feed the decoder the same channel count.
    """
    if mode == "transpose":
        return keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"{name}_upconv")(x)
    x = BilinearUpSampling2D(name=f"{name}_upsample")(x)
    return keras.layers.Conv2D(filters, 1, name=f"{name}_proj")(x)


def attention_gate(skip, gate, inter_filters: int, name: str):
    """Additive attention gate (Oktay et al. 2018, "Attention U-Net") on a skip connection.

    ``alpha = sigmoid(BN(psi(relu(BN(W_x skip) + BN(W_g gate)))))``, returns ``skip * alpha``.
    ``gate`` is the upsampled decoder feature, at the skip's resolution; ``W_x``, ``W_g`` and
    ``psi`` are 1x1 convolutions (``psi`` to one channel), so the gate adds few parameters and
    works at any input size.

    Layers: ``{name}_x``, ``{name}_g``, ``{name}_psi`` (+ ``_bn``), ``{name}_add``,
    ``{name}_relu``, ``{name}_alpha``, ``{name}_apply``.
    """
    theta_x = keras.layers.Conv2D(inter_filters, 1, use_bias=False, name=f"{name}_x")(skip)
    theta_x = batch_norm(theta_x, f"{name}_x_bn")
    phi_g = keras.layers.Conv2D(inter_filters, 1, use_bias=False, name=f"{name}_g")(gate)
    phi_g = batch_norm(phi_g, f"{name}_g_bn")
    f = keras.layers.Add(name=f"{name}_add")([theta_x, phi_g])
    f = keras.layers.ReLU(name=f"{name}_relu")(f)
    psi = keras.layers.Conv2D(1, 1, use_bias=False, name=f"{name}_psi")(f)
    psi = batch_norm(psi, f"{name}_psi_bn")
    alpha = keras.layers.Activation("sigmoid", name=f"{name}_alpha")(psi)
    return keras.layers.Multiply(name=f"{name}_apply")([skip, alpha])


def decoder_block(
    x,
    skip,
    filters: int,
    upsampling: str,
    name: str,
    attention: bool = False,
):
    """One U-Net decoder level: upsample ``x``, (gate ``skip``), concatenate, conv block.

    ``skip`` may be a tensor, a list of tensors (UNet++ dense skips, concatenated in order), or
    ``None`` (no skip: upsample and convolve only).
    """
    up = upsample(x, filters, upsampling, f"{name}_up")
    skips = [] if skip is None else list(skip) if isinstance(skip, (list, tuple)) else [skip]
    if attention:
        skips = [
            attention_gate(s, up, max(1, filters // 2), f"{name}_gate{i if len(skips) > 1 else ''}")
            for i, s in enumerate(skips, start=1)
        ]
    if skips:
        up = keras.layers.Concatenate(name=f"{name}_concat")([*skips, up])
    return conv_block(up, filters, name)


def encoder(x, filters: int, depth: int, name: str):
    """U-Net contracting path: ``depth`` conv blocks, each followed by 2x2 max pooling.

    Level ``k`` (1-based) has ``filters * 2**(k-1)`` channels; its block is ``{name}_enc{k}``.

    Returns:
        ``(pooled, skips)``: the tensor after the last pooling (input of the bottleneck) and the
        list of the ``depth`` block outputs, shallowest first.
    """
    skips = []
    for level in range(1, depth + 1):
        x = conv_block(x, filters * 2 ** (level - 1), f"{name}_enc{level}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"{name}_enc{level}_pool")(x)
    return x, skips


def bottleneck(x, filters: int, dropout: float, name: str):
    """Deepest conv block (``{name}_bottleneck``), with dropout after it when ``dropout > 0``.

    Dropout sits at the end of the contracting path, as in Ronneberger et al. 2015.
    """
    x = conv_block(x, filters, f"{name}_bottleneck")
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_bottleneck_dropout")(x)
    return x


def segmentation_head(
    x, num_classes: int, activation: str | None, name: str, output_name: str | None = None
):
    """1x1 convolution to ``num_classes`` channels and a float32 output layer.

    Args:
        x: decoder output.
        num_classes: 1 for binary (sigmoid-style) tasks, >= 2 for multi-class (softmax-style).
        activation: ``"auto"`` -> sigmoid for one class, softmax otherwise (probabilities);
            ``None`` -> logits; ``"sigmoid"`` / ``"softmax"`` explicitly.
        name: model name; the conv is ``{name}_head`` unless ``output_name`` is given.
        output_name: name of the output layer. Default ``{name}_probs`` with an activation,
            ``{name}_logits`` without. The conv is then ``{output_name}_conv``.

    Returns:
        A float32 tensor ``[batch, H, W, num_classes]``, also under a mixed-precision policy.
    """
    conv_name = f"{name}_head" if output_name is None else f"{output_name}_conv"
    x = keras.layers.Conv2D(num_classes, 1, name=conv_name)(x)
    return output_activation(x, num_classes, activation, name, output_name)


def output_activation(
    x, num_classes: int, activation: str | None, name: str, output_name: str | None = None
):
    """The float32 output layer of :func:`segmentation_head` on logits ``x``.

    Named ``output_name``, by default ``{name}_probs`` with an activation and ``{name}_logits``
    without; ``activation="auto"`` is sigmoid for one class, softmax otherwise.
    """
    if activation == "auto":
        activation = "sigmoid" if num_classes == 1 else "softmax"
    if output_name is None:
        output_name = f"{name}_logits" if activation is None else f"{name}_probs"
    return keras.layers.Activation(activation or "linear", dtype="float32", name=output_name)(x)
