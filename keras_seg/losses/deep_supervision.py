"""The loss of a deep-supervised model: a weighted sum of one loss over its heads."""

from __future__ import annotations

from collections.abc import Sequence

import keras


@keras.saving.register_keras_serializable(package="keras_seg")
class DeepSupervisionLoss(keras.losses.Loss):
    """``sum_i weights[i] * loss(y_true, head_i)`` while training, ``loss(y_true, y_pred)`` else.

    A model ending in ``keras_seg.models.deep_supervision.DeepSupervisionHeads`` gives its heads
    stacked on the last axis (``[batch, H, W, K, heads]``) only in the training step; in
    evaluation and prediction it gives the full-depth head alone, scored by ``loss`` as any
    single-output model is. Each head's loss is ``loss``'s own value (its reduction and
    ``sample_weight`` handling, per-pixel weights included), so the total equals Keras'
    multi-output ``compile(loss=[loss] * n, loss_weights=weights)``.

    Args:
        loss: a ``keras.losses.Loss`` (e.g. ``keras_seg.losses.get("bce_dice")``).
        weights: one weight per head, shallowest first; default equal, summing to 1 (the
            total stays on a single output's scale, so learning rates carry over).
        heads: the number of heads when ``weights`` is not given.
    """

    def __init__(self, loss: keras.losses.Loss, weights: Sequence[float] | None = None,
                 heads: int | None = None, name: str = "deep_supervision", **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(loss, dict):
            loss = keras.saving.deserialize_keras_object(loss)
        if not isinstance(loss, keras.losses.Loss):
            raise TypeError(f"loss must be a keras.losses.Loss, got {type(loss).__name__}")
        if weights is None:
            if not isinstance(heads, int) or heads < 1:
                raise ValueError(f"give weights or heads >= 1, got heads={heads!r}")
            weights = [1.0 / heads] * heads
        weights = [float(w) for w in weights]
        if not weights or any(w < 0 for w in weights) or not sum(weights) > 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
        self.loss, self.weights = loss, weights

    def __call__(self, y_true, y_pred, sample_weight=None):
        if len(y_pred.shape) != 5:
            return self.loss(y_true, y_pred, sample_weight=sample_weight)
        if y_pred.shape[-1] != len(self.weights):
            raise ValueError(f"{len(self.weights)} head weights for {y_pred.shape[-1]} heads")
        total = 0.0
        for i, weight in enumerate(self.weights):
            if weight:
                total = total + weight * self.loss(y_true, y_pred[..., i],
                                                   sample_weight=sample_weight)
        return total

    def call(self, y_true, y_pred):  # Keras' abstract method; __call__ does the work
        return self.loss.call(y_true, y_pred)

    def get_config(self) -> dict:
        return {"name": self.name, "loss": keras.saving.serialize_keras_object(self.loss),
                "weights": list(self.weights)}

    @classmethod
    def from_config(cls, config: dict) -> DeepSupervisionLoss:
        return cls(**config)
