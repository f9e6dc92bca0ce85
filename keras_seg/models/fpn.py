"""FPN segmentation decoder (Kirillov et al. 2019, "Panoptic Feature Pyramid Networks").

As segmentation_models_pytorch's ``FPN``, on the encoder features C2..C5 at strides 4, 8, 16, 32
(see ``keras_seg.models.encoders``):

- top-down pyramid: ``P5 = Conv1x1(C5)``; ``Pk = Up2(P(k+1)) + Conv1x1(Ck)`` (nearest-neighbour
  upsampling), ``pyramid_filters`` features (layers ``{name}_p{k}_*``);
- one segmentation branch per level: (Conv3x3-BN-ReLU, then 2x bilinear upsampling) repeated until
  stride 4 (P2 gets one block and no upsampling), ``segmentation_filters`` features
  (``{name}_seg{k}_*``; segmentation_models_pytorch uses GroupNorm here, we use BatchNormalization
  like the rest of keras-seg);
- the four branches are summed, then optional dropout, a 1x1 convolution to ``num_classes`` and
  4x upsampling (two 2x bilinear steps) to full resolution, then the float32 activation.

Inputs must be multiples of 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_seg.models import blocks, encoders
from keras_seg.models.bilinear_upsampling import BilinearUpSampling2D

STRIDE = 32


def fpn(
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 1,
    encoder: str = "resnet34",
    encoder_weights: str | None = None,
    encoder_freeze: bool = False,
    pyramid_filters: int = 256,
    segmentation_filters: int = 128,
    dropout: float = 0.0,
    activation: str | None = "auto",
    name: str = "fpn",
) -> keras.Model:
    """Build an FPN segmentation network on a pretrained-style encoder.

    Args:
        input_shape: ``(height, width, channels)``; height and width may be ``None``. Fixed
            sizes must be multiples of 32.
        num_classes: 1 for a binary mask (sigmoid), >= 2 for one channel per class (softmax).
        encoder: a name of ``keras_seg.models.encoders.ENCODER_NAMES``.
        encoder_weights: None (random), ``"imagenet"`` or a weights file.
        encoder_freeze: build the encoder frozen (see ``set_encoder_trainable``).
        pyramid_filters: features of the pyramid levels P2..P5.
        segmentation_filters: features of the segmentation branches.
        dropout: dropout rate on the merged branches; 0 disables it.
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
    blocks.check_positive_int(pyramid_filters, "pyramid_filters", name)
    blocks.check_positive_int(segmentation_filters, "segmentation_filters", name)
    blocks.check_common_options(num_classes, activation, dropout, name)
    encoders.check_encoder_options(encoder, encoder_weights, encoder_freeze, name)
    shape = blocks.check_input_shape(input_shape, STRIDE, name)

    inputs = keras.Input(shape=shape, name=f"{name}_input")
    features = encoders.encoder_features(inputs, encoder, encoder_weights, encoder_freeze, 5, name)
    c = dict(zip((2, 3, 4, 5), features[1:], strict=True))  # C2..C5 at strides 4..32

    pyramid = {}
    for k in (5, 4, 3, 2):
        lateral = keras.layers.Conv2D(pyramid_filters, 1, name=f"{name}_p{k}_lateral")(c[k])
        if k == 5:
            pyramid[k] = lateral
            continue
        up = keras.layers.UpSampling2D(2, name=f"{name}_p{k}_upsample")(pyramid[k + 1])
        pyramid[k] = keras.layers.Add(name=f"{name}_p{k}_add")([up, lateral])

    branches = []
    for k in (5, 4, 3, 2):
        x = pyramid[k]
        for step in range(max(k - 2, 1)):
            prefix = f"{name}_seg{k}_{step + 1}"
            x = keras.layers.Conv2D(
                segmentation_filters, 3, padding="same", use_bias=False, name=f"{prefix}_conv"
            )(x)
            x = blocks.batch_norm(x, f"{prefix}_bn")
            x = keras.layers.ReLU(name=f"{prefix}_relu")(x)
            if k > 2:
                x = BilinearUpSampling2D(name=f"{prefix}_upsample")(x)
        branches.append(x)
    x = keras.layers.Add(name=f"{name}_merge")(branches)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    logits = keras.layers.Conv2D(num_classes, 1, name=f"{name}_head")(x)
    for step in (1, 2):
        logits = BilinearUpSampling2D(name=f"{name}_head_upsample{step}")(logits)
    return keras.Model(inputs, blocks.output_activation(logits, num_classes, activation, name),
                       name=name)
