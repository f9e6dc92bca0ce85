"""Inference copies of a model with each BatchNormalization folded into the convolution before it.

In inference BatchNormalization is a fixed per-channel affine map, ``y = (x - mean) * s + beta``
with ``s = gamma / sqrt(var + eps)``. After a convolution ``x = W * u + b`` it folds into the
convolution: ``W' = W s`` (per output channel), ``b' = (b - mean) s + beta``, exactly in real
arithmetic (in float32 within a few 1e-6 of the unfolded model). What is saved is one
convolution with a bias instead of a convolution and two full-tensor element-wise passes, and
TensorFlow then fuses convolution, bias and ReLU into one oneDNN kernel: on a CPU with native
bfloat16 inference under oneDNN's bfloat16 rewrite runs about twice as fast (U-Net 32, 256x256;
README "Speed"), in float32 a few per cent faster.

:func:`fold_batchnorm` returns a new model (new layers and variables, nested models such as the
encoders cloned too); the original is untouched. Folded are ``Conv2D``, ``DepthwiseConv2D`` and
``SeparableConv2D`` layers without activation whose only consumer is a BatchNormalization over
the channel axis (the U-Net blocks, ResNet, EfficientNet and MobileNet encoders, DeepLabV3+'s
ASPP). A BatchNormalization after anything else stays (DenseNet's pre-activation BN, for
example), and so do layers under a mixed-precision policy (the folded kernel would be rounded
after scaling) and a convolution whose output is also a model's output. The copy is for
inference only: folded BatchNormalizations have no statistics left to train.

``predict`` and ``export`` fold by default (``--no-fold-batchnorm`` turns it off).
"""

from __future__ import annotations

import keras
import numpy as np

FOLDABLE = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


@keras.saving.register_keras_serializable(package="keras_seg")
class FoldedBatchNorm(keras.layers.Layer):
    """Where a BatchNormalization was folded into the convolution before it: passes ``x`` on."""

    def call(self, x, training=None, mask=None):
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


def _output_ids(model: keras.Model, layers: list) -> set[int]:
    """ids of the output tensors of ``model`` and of the models nested in it (among ``layers``,
    its layers at every depth)."""
    models = [model, *(layer for layer in layers if isinstance(layer, keras.Model))]
    return {id(t) for m in models for t in keras.tree.flatten(m.outputs)}


def _float32(layer) -> bool:
    return getattr(layer.dtype_policy, "compute_dtype", None) == "float32"


def _folds(model: keras.Model) -> dict[int, tuple]:
    """``{id(convolution): (convolution, its BatchNormalization)}`` of every foldable pair, in
    nested models too.

    Both must compute in float32: under a mixed policy the folded kernel would be rounded to
    bfloat16 / float16 after scaling, not before (outputs about 1e-2 away).
    """
    layers = list(model._flatten_layers(include_self=False, recursive=True))
    outputs = _output_ids(model, layers)
    pairs = {}
    for layer in layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        axis = layer.axis if isinstance(layer.axis, int) else None
        if axis not in (-1, 3) or len(layer._inbound_nodes) != 1 or not _float32(layer):
            continue
        inputs = layer._inbound_nodes[0].input_tensors
        if len(inputs) != 1:
            continue
        conv = inputs[0]._keras_history.operation
        if (type(conv) in FOLDABLE and len(conv._outbound_nodes) == 1
                and len(conv._inbound_nodes) == 1 and id(inputs[0]) not in outputs
                and _float32(conv)
                and conv.activation is keras.activations.linear
                and getattr(conv, "groups", 1) == 1 and conv.data_format == "channels_last"):
            pairs[id(conv)] = (conv, layer)
    return pairs


def _numpy(variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable).astype(np.float64)


def folded_weights(conv, bn) -> list[np.ndarray]:
    """The float32 weights of ``conv`` followed by ``bn`` (inference statistics), in the order
    of ``conv.get_weights()`` with a bias."""
    bias = _numpy(conv.bias) if conv.use_bias else 0.0
    gamma = _numpy(bn.gamma) if bn.scale else 1.0
    beta = _numpy(bn.beta) if bn.center else 0.0
    scale = gamma / np.sqrt(_numpy(bn.moving_variance) + bn.epsilon)
    new_bias = ((bias - _numpy(bn.moving_mean)) * scale + beta).astype(np.float32)
    if isinstance(conv, keras.layers.SeparableConv2D):  # the pointwise kernel's outputs
        return [_numpy(conv.depthwise_kernel).astype(np.float32),
                (_numpy(conv.pointwise_kernel) * scale).astype(np.float32), new_bias]
    kernel = _numpy(conv.kernel)
    if isinstance(conv, keras.layers.DepthwiseConv2D):  # (kh, kw, in, multiplier)
        kernel = kernel * scale.reshape(1, 1, *kernel.shape[2:])
    else:  # (kh, kw, in, out)
        kernel = kernel * scale
    return [kernel.astype(np.float32), new_bias]


def fold_batchnorm(model: keras.Model) -> keras.Model:
    """An inference copy of ``model`` with BatchNormalization folded into convolutions.

    Returns ``model`` itself when nothing folds. See the module docstring.
    """
    pairs = _folds(model)
    if not pairs:
        return model
    folded_bns = {id(bn) for _, bn in pairs.values()}
    clones: dict[int, tuple] = {}  # id(original) -> (original, clone)

    def clone(layer):
        if id(layer) in folded_bns:
            new = FoldedBatchNorm(name=layer.name, dtype=layer.dtype_policy)
        else:
            config = layer.get_config()
            if id(layer) in pairs:
                config.update(use_bias=True, bias_initializer="zeros")
            new = layer.__class__.from_config(config)
        clones[id(layer)] = (layer, new)
        return new

    folded = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for key, (layer, new) in clones.items():
        if key in pairs:
            new.set_weights(folded_weights(*pairs[key]))
        elif key not in folded_bns and getattr(layer, "weights", None):
            new.set_weights(layer.get_weights())
    return folded
