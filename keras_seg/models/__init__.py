"""Segmentation model builders and the name registry used by ``get_model`` and ``--model``.

Every builder returns a functional ``keras.Model`` with named layers and no Lambda layers, whose
output is float32 (also under ``mixed_float16``): probabilities by default (``activation="auto"``:
sigmoid for ``num_classes=1``, softmax otherwise) or logits with ``activation=None``.

``unet_plus_plus(deep_supervision=True)`` outputs its extra heads only in the training step
(``keras_seg.models.deep_supervision``); everywhere else it has one output, the full-depth
prediction. Train it with the loss wrapper that weighs the heads::

    n = head_count(model)
    model.compile(loss=keras_seg.losses.DeepSupervisionLoss(loss, heads=n), ...)
    model.fit(images, masks)

``unet``, ``unet_plus_plus``, ``fpn`` and ``deeplabv3_plus`` take ``encoder=NAME`` (one of
:data:`ENCODER_NAMES`: ``keras.applications`` networks and ResNet34), ``encoder_weights``
(None, ``"imagenet"`` or a file) and ``encoder_freeze``; :func:`set_encoder_trainable` freezes or
unfreezes the encoder later (see ``keras_seg.models.encoders``)::

    model = get_model("unet", encoder="efficientnetb3", encoder_weights="imagenet", num_classes=1)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import keras

from keras_seg.models.attention_unet import attention_unet
from keras_seg.models.batchnorm import BatchNormalization
from keras_seg.models.deep_supervision import DeepSupervisionHeads, head_count
from keras_seg.models.deeplabv3_plus import deeplabv3_plus
from keras_seg.models.encoders import ENCODER_NAMES, set_encoder_trainable
from keras_seg.models.fold import fold_batchnorm
from keras_seg.models.fpn import fpn
from keras_seg.models.res_unet import res_unet
from keras_seg.models.unet import unet
from keras_seg.models.unet_plus_plus import unet_plus_plus

# The one list of models: name -> builder. MODEL_NAMES and builder_options derive from it.
MODELS: dict[str, Callable[..., keras.Model]] = {
    "unet": unet,
    "attention_unet": attention_unet,
    "res_unet": res_unet,
    "unet_plus_plus": unet_plus_plus,
    "fpn": fpn,
    "deeplabv3_plus": deeplabv3_plus,
}
MODEL_NAMES = tuple(MODELS)

__all__ = [
    "BatchNormalization",
    "ENCODER_NAMES",
    "DeepSupervisionHeads",
    "MODELS",
    "MODEL_NAMES",
    "builder_options",
    "attention_unet",
    "deep_supervision_weights",
    "deeplabv3_plus",
    "fold_batchnorm",
    "fpn",
    "get_model",
    "head_count",
    "inference_model",
    "output_count",
    "res_unet",
    "set_encoder_trainable",
    "unet",
    "unet_plus_plus",
]


def get_model(
    name: str,
    /,
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 1,
    **options,
) -> keras.Model:
    """Build the model called ``name`` (one of :data:`MODEL_NAMES`).

    Args:
        name: a key of :data:`MODELS` (``"unet"``, ``"attention_unet"``, ``"res_unet"``,
            ``"unet_plus_plus"``, ``"fpn"``, ``"deeplabv3_plus"``).
        input_shape: ``(height, width, channels)``; height and width may be ``None``.
        num_classes: 1 for a binary mask, >= 2 for one channel per class.
        **options: the builder's other keyword arguments (``filters``, ``depth``, ``encoder``,
            ``encoder_weights``, ...), ``name`` included (``name`` is positional-only here, so
            the model's own name can be passed).

    Raises:
        ValueError: unknown model name, unknown option, or a bad option value.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    builder = MODELS[name]
    accepted = builder_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for model {name!r}; valid options: {', '.join(accepted)}"
        )
    return builder(input_shape=input_shape, num_classes=num_classes, **options)


def builder_options(name: str) -> list[str]:
    """The keyword options builder ``name`` takes besides ``input_shape`` and ``num_classes``."""
    return [p for p in inspect.signature(MODELS[name]).parameters
            if p not in ("input_shape", "num_classes")]


def output_count(model: keras.Model) -> int:
    """Number of outputs of ``model``: 1 for every model of this package (a deep-supervised
    model's extra heads exist only in its training step); more only for ``.keras`` files saved
    by keras-seg 0.1, whose UNet++ had one output per head (see :func:`inference_model`)."""
    return len(model.outputs)


def deep_supervision_weights(n: int) -> list[float]:
    """Default loss weights for ``n`` deep-supervision heads: equal, summing to 1.

    Equal weights are what Zhou et al. (2018) train UNet++ with; normalising them to sum to 1
    keeps the total loss on the scale of a single-output model, so learning rates carry over.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of outputs must be an integer >= 1, got {n!r}")
    return [1.0 / n] * n


def inference_model(model: keras.Model) -> keras.Model:
    """``model`` with only its final output (the last one), sharing its weights.

    Returns ``model`` itself when it has a single output (every model built now). Kept for
    ``.keras`` files saved by keras-seg 0.1, whose deep-supervised UNet++ had one output per
    head.
    """
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.input, model.outputs[-1], name=model.name)
