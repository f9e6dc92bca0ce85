"""UNet++ (Zhou et al. 2018, "UNet++: A Nested U-Net Architecture for Medical Image Segmentation").

Node ``X(i, j)`` sits at downsampling level ``i`` (0 = full resolution) and column ``j``. Column 0
is the U-Net encoder (``X(i, 0)`` is block ``{name}_enc{i+1}``, ``X(depth, 0)`` the bottleneck).
Every other node is a decoder block over the upsampled node below-left and the dense skips from
all nodes to its left on the same level::

    X(i, j) = ConvBlock([X(i, 0), ..., X(i, j-1), Up(X(i+1, j-1))])      layers {name}_x{i}_{j}_*

Each block is (Conv3x3-BN-ReLU) x 2, as in :func:`unet`. The heads are 1x1 convolutions on the
full-resolution nodes ``X(0, 1) ... X(0, depth)``:

- ``deep_supervision=False``: one output, on ``X(0, depth)`` (layer ``{name}_probs``, or
  ``{name}_logits`` with ``activation=None``).
- ``deep_supervision=True``: ``depth`` heads, ``{name}_out1 ... {name}_out{depth}``, ordered
  shallowest to deepest, each with its own float32 activation, joined by a
  ``DeepSupervisionHeads`` layer (``keras_seg.models.deep_supervision``): while training the
  model outputs every head stacked on a last axis, otherwise only the full-depth one, so
  prediction, checkpoints and export see a single output. Train it with
  ``keras_seg.losses.DeepSupervisionLoss(loss, heads=depth)`` (equal weights summing to 1 by
  default), as ``train.py`` does.

Why the well-known UNet++ port failed (validation DSC 0.02 where U-Net reached 0.91), and what this
one does instead: each head applies exactly one activation, on its own 1x1 conv, in float32 (no
sigmoid applied twice, no activation-free supervision head fed to a probability loss); each
supervision output has its own loss against the full-resolution mask; every convolution is
followed by BatchNormalization.

With ``encoder=NAME`` (see ``keras_seg.models.encoders``), column 0 is that encoder: ``X(i, 0)``
is its feature at stride ``2**i`` (i = 1..depth, ``depth`` 5 by default), and there is no
``X(0, 0)`` (nor ``X(1, 0)`` for ConvNeXt, which has no stride-2 feature). A node exists when
the node below-left of it does, and takes the dense skips that exist to its left, so
``X(0, 1)`` is an upsampling block without skips; the outputs are the existing ``X(0, j)``
(``depth`` of them, one fewer for ConvNeXt), the last always ``X(0, depth)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_seg.models import blocks, encoders
from keras_seg.models.deep_supervision import DeepSupervisionHeads


def unet_plus_plus(
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 1,
    filters: int = 32,
    depth: int | None = None,
    upsampling: str = "transpose",
    dropout: float = 0.0,
    deep_supervision: bool = False,
    activation: str | None = "auto",
    encoder: str | None = None,
    encoder_weights: str | None = None,
    encoder_freeze: bool = False,
    name: str = "unet_plus_plus",
) -> keras.Model:
    """Build a UNet++.

    Args:
        input_shape: ``(height, width, channels)``; height and width may be ``None``. Fixed
            sizes must be multiples of ``2**depth``.
        num_classes: 1 for a binary mask (sigmoid), >= 2 for one channel per class (softmax).
        filters: features of level 0; each level below doubles them.
        depth: number of 2x2 poolings, also the number of deep-supervision outputs; with an
            encoder, the number of its strides used (1-5). None: 4, or 5 with an encoder.
        upsampling: ``"transpose"`` or ``"bilinear"`` (see ``blocks.upsample``).
        dropout: dropout rate after the bottleneck block; 0 disables it.
        deep_supervision: one output per nested depth (a list of ``depth`` outputs, the last
            being the final prediction) instead of a single output.
        activation: ``"auto"`` (default): float32 sigmoid/softmax probabilities; ``None``:
            float32 logits.
        encoder: None (the U-Net contracting path) or a name of
            ``keras_seg.models.encoders.ENCODER_NAMES``.
        encoder_weights: with an encoder: None (random), ``"imagenet"`` or a weights file.
        encoder_freeze: with an encoder: build it frozen (see ``set_encoder_trainable``).
        name: model name and prefix of every layer name.

    Returns:
        A functional ``keras.Model``; each output is float32 ``[batch, H, W, num_classes]``.

    Raises:
        ValueError: a bad option, or a fixed input size not divisible by ``2**depth``.
        UserError: encoder weights that cannot be downloaded or read.
    """
    depth = (4 if encoder is None else 5) if depth is None else depth
    blocks.check_positive_int(filters, "filters", name)
    blocks.check_positive_int(depth, "depth", name)
    blocks.check_common_options(num_classes, activation, dropout, name, upsampling)
    if not isinstance(deep_supervision, bool):
        raise ValueError(
            f"{name}: deep_supervision must be True or False, got {deep_supervision!r}"
        )
    if encoder is None:
        encoders.check_no_encoder_options(encoder_weights, encoder_freeze, name)
    else:
        encoders.check_encoder_options(encoder, encoder_weights, encoder_freeze, name)
    shape = blocks.check_input_shape(input_shape, 2**depth, name)

    inputs = keras.Input(shape=shape, name=f"{name}_input")
    if encoder is None:
        pooled, encoder_nodes = blocks.encoder(inputs, filters, depth, name)
        column0 = [*encoder_nodes, blocks.bottleneck(pooled, filters * 2**depth, dropout, name)]
    else:
        features = encoders.encoder_features(
            inputs, encoder, encoder_weights, encoder_freeze, depth, name
        )
        if dropout:
            features[-1] = keras.layers.Dropout(dropout, name=f"{name}_encoder_dropout")(
                features[-1]
            )
        column0 = [None, *features]
    # nodes[i][j] is X(i, j), None where it does not exist.
    nodes = [[node] for node in column0]
    for j in range(1, depth + 1):
        for i in range(depth - j + 1):
            below = nodes[i + 1][j - 1]
            nodes[i].append(
                None if below is None else blocks.decoder_block(
                    below,
                    [node for node in nodes[i][:j] if node is not None],
                    filters * 2**i,
                    upsampling,
                    f"{name}_x{i}_{j}",
                )
            )

    if not deep_supervision:
        outputs = blocks.segmentation_head(nodes[0][depth], num_classes, activation, name)
    else:
        heads = [
            blocks.segmentation_head(
                nodes[0][j], num_classes, activation, name, output_name=f"{name}_out{j}"
            )
            for j in range(1, depth + 1)
            if nodes[0][j] is not None
        ]
        outputs = DeepSupervisionHeads(name=f"{name}_heads")(heads)
    return keras.Model(inputs, outputs, name=name)
