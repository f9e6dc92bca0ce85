"""Segmentation model builders and the name registry used by ``get_model`` and ``--model``.

Every builder returns a functional ``keras.Model`` with named layers and no Lambda layers, whose
output is float32 (also under ``mixed_float16``): probabilities by default (``activation="auto"``:
sigmoid for ``num_classes=1``, softmax otherwise) or logits with ``activation=None``.

``unet_plus_plus(deep_supervision=True)`` has several outputs (see :func:`output_count`), ordered
shallowest to deepest; the last one is the full-depth prediction and is the one to use for
prediction, metrics and export (:func:`inference_model` keeps only it). Train it with one loss per
output::

    n = output_count(model)
    model.compile(loss=[loss] * n, loss_weights=deep_supervision_weights(n), ...)
    model.fit(images, (masks,) * n)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import keras

from keras_seg.models.attention_unet import attention_unet
from keras_seg.models.res_unet import res_unet
from keras_seg.models.unet import unet
from keras_seg.models.unet_plus_plus import unet_plus_plus

MODEL_NAMES = ("unet", "attention_unet", "res_unet", "unet_plus_plus")

_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "unet": unet,
    "attention_unet": attention_unet,
    "res_unet": res_unet,
    "unet_plus_plus": unet_plus_plus,
}

__all__ = [
    "MODEL_NAMES",
    "builder_options",
    "attention_unet",
    "deep_supervision_weights",
    "get_model",
    "inference_model",
    "output_count",
    "res_unet",
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
        name: ``"unet"``, ``"attention_unet"``, ``"res_unet"`` or ``"unet_plus_plus"``.
        input_shape: ``(height, width, channels)``; height and width may be ``None``.
        num_classes: 1 for a binary mask, >= 2 for one channel per class.
        **options: the builder's other keyword arguments (``filters``, ``depth``, ...), ``name``
            included (``name`` is positional-only here, so the model's own name can be passed).

    Raises:
        ValueError: unknown model name, unknown option, or a bad option value.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    builder = _BUILDERS[name]
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
    return [p for p in inspect.signature(_BUILDERS[name]).parameters
            if p not in ("input_shape", "num_classes")]


def output_count(model: keras.Model) -> int:
    """Number of outputs of ``model`` (``depth`` for UNet++ with deep supervision, else 1)."""
    return len(model.outputs)


def deep_supervision_weights(n: int) -> list[float]:
    """Default loss weights for a model with ``n`` outputs: equal, summing to 1.

    Equal weights are what Zhou et al. (2018) train UNet++ with; normalising them to sum to 1
    keeps the total loss on the scale of a single-output model, so learning rates carry over.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of outputs must be an integer >= 1, got {n!r}")
    return [1.0 / n] * n


def inference_model(model: keras.Model) -> keras.Model:
    """``model`` with only its final output (the last one), sharing its weights.

    Returns ``model`` itself when it has a single output. Use it for prediction and export of a
    deep-supervision UNet++.
    """
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.input, model.outputs[-1], name=model.name)
