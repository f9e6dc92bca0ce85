"""Inference beyond one forward pass: sliding windows, flip TTA, ensembles, post-processing,
and the train / val / unseen split of predicted volumes.

``keras_seg.predict`` puts them together; each module also works on its own with any function
``images (N, H, W, C) -> probabilities (N, H, W, K)``.
"""

from keras_seg.inference.ensemble import Ensemble, InferenceOptions
from keras_seg.inference.postprocess import Postprocess, choose
from keras_seg.inference.sliding_window import gaussian_importance, sliding_window_predict
from keras_seg.inference.splits import volume_splits
from keras_seg.inference.tta import flip_tta
from keras_seg.inference.whole_image import whole_image_predict

__all__ = ["Ensemble", "InferenceOptions", "Postprocess", "choose", "flip_tta",
           "gaussian_importance", "sliding_window_predict", "volume_splits",
           "whole_image_predict"]
