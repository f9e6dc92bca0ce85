"""Attention U-Net (Oktay et al. 2018): U-Net with additive attention gates on the skips.

Before each skip connection is concatenated, an attention gate computes a per-pixel weight in
[0, 1] from the skip feature and the upsampled decoder feature (the gating signal) and multiplies
the skip by it, so the decoder can suppress irrelevant regions of the encoder features
(see :func:`keras_seg.models.blocks.attention_gate`). Everything else is :func:`unet`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_seg.models.unet import build_unet


def attention_unet(
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 1,
    filters: int = 32,
    depth: int = 4,
    upsampling: str = "transpose",
    dropout: float = 0.0,
    activation: str | None = "auto",
    name: str = "attention_unet",
) -> keras.Model:
    """Build an Attention U-Net.

    Arguments are those of :func:`keras_seg.models.unet.unet`. Each gate uses
    ``filters_at_level // 2`` intermediate channels; the gate layers are named
    ``{name}_dec{level}_gate_*``.

    Returns:
        A functional ``keras.Model`` mapping ``[batch, H, W, C]`` to float32
        ``[batch, H, W, num_classes]``.

    Raises:
        ValueError: a bad option, or a fixed input size not divisible by ``2**depth``.
    """
    return build_unet(
        input_shape,
        num_classes,
        filters,
        depth,
        upsampling,
        dropout,
        activation,
        name,
        attention=True,
    )
