"""Keras callbacks for segmentation training: best per-volume-DSC checkpoint, LR finder, images."""

from callbacks.best_dsc import BestDSCCheckpoint, save_atomically
from callbacks.lr_finder import LRFinder, find_lr
from callbacks.tensorboard_images import TensorBoardImages, choose_slices

__all__ = ["BestDSCCheckpoint", "LRFinder", "TensorBoardImages", "choose_slices", "find_lr",
           "save_atomically"]
