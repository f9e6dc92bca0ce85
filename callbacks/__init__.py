"""Keras callbacks for segmentation training: best per-volume-DSC checkpoint, LR finder, images."""

from callbacks.best_dsc import BestDSCCheckpoint, save_atomically

__all__ = ["BestDSCCheckpoint", "save_atomically"]
