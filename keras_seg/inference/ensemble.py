"""How probabilities are computed from one or several models: whole image or sliding window,
optional flip TTA, and the mean over the models of an ensemble."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from keras_seg.errors import UserError
from keras_seg.inference.sliding_window import sliding_window_predict
from keras_seg.inference.tta import TTA_MODES, flip_tta
from keras_seg.inference.whole_image import whole_image_predict

WINDOWS = ("auto", "whole", "sliding")


class BatchPredictor(Protocol):
    """A loaded model: ``predict_batch`` maps float32 (B, H, W, C) with H and W multiples of
    ``stride`` to probabilities (B, H, W, K)."""

    predict_batch: Callable[[np.ndarray], np.ndarray]
    stride: int


@dataclasses.dataclass(frozen=True)
class InferenceOptions:
    """How each image is predicted.

    Attributes:
        window: ``"whole"``: the whole image, padded to the stride; ``"sliding"``: overlapping
            tiles of side ``tile`` (keras_seg.inference.sliding_window); ``"auto"``: sliding
            for images larger than ``tile`` in either side, whole otherwise (and whole when
            ``tile`` is None).
        tile: side of the sliding-window tiles, the training size; a multiple of the stride.
        overlap: fraction of a tile its neighbour shares, in [0, 1).
        tta: ``"none"``, or ``"flip"``: the mean over the 4 flips (keras_seg.inference.tta).
        batch_size: images, or tiles, per network call.
    """

    window: str = "auto"
    tile: int | None = None
    overlap: float = 0.5
    tta: str = "none"
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise UserError(f"unknown window '{self.window}'; valid: {', '.join(WINDOWS)}")
        if self.tta not in TTA_MODES:
            raise UserError(f"unknown tta '{self.tta}'; valid: {', '.join(TTA_MODES)}")
        if not 0.0 <= self.overlap < 1.0:
            raise UserError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.tile is not None and self.tile < 1:
            raise UserError(f"tile must be >= 1, got {self.tile}")
        if self.window == "sliding" and self.tile is None:
            raise UserError("sliding-window inference needs a tile size (--tile N); the "
                            "model's run does not record a training size")
        if self.batch_size < 1:
            raise UserError(f"batch size must be >= 1, got {self.batch_size}")


class Ensemble:
    """Probabilities of images from ``predictors`` (the mean over them) as ``options`` say."""

    def __init__(self, predictors: Sequence[BatchPredictor], options: InferenceOptions) -> None:
        if not predictors:
            raise UserError("no model to predict with")
        if options.tile is not None:
            for i, p in enumerate(predictors):
                if options.tile % p.stride:
                    raise UserError(f"tile {options.tile} is not a multiple of model {i + 1}'s "
                                    f"stride {p.stride}")
        self.predictors = list(predictors)
        self.options = options

    def sliding(self, height: int, width: int) -> bool:
        """Whether images of this size are predicted by sliding window."""
        o = self.options
        if o.window == "auto":
            return o.tile is not None and (height > o.tile or width > o.tile)
        return o.window == "sliding"

    def _one(self, predictor: BatchPredictor, images: np.ndarray) -> np.ndarray:
        o = self.options
        if self.sliding(*images.shape[1:3]):
            return sliding_window_predict(predictor.predict_batch, images, o.tile, o.overlap,
                                          o.batch_size)
        return whole_image_predict(predictor.predict_batch, images, predictor.stride,
                                   o.batch_size)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, H, W, K) probabilities of (N, H, W, C) images."""
        total = None
        for predictor in self.predictors:
            def one(x, predictor=predictor):
                return self._one(predictor, x)
            prob = flip_tta(one, images) if self.options.tta == "flip" else one(images)
            prob = np.asarray(prob, np.float32)
            if total is not None and prob.shape != total.shape:
                raise UserError(f"the models of the ensemble disagree: {prob.shape[-1]} output "
                                f"channel(s) against {total.shape[-1]}")
            total = prob if total is None else total + prob
        return total / len(self.predictors)
