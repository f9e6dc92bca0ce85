"""Keras callbacks for segmentation training: best per-volume-DSC checkpoint, LR finder, images."""

from keras_seg.callbacks.best_dsc import BestDSCCheckpoint, save_atomically
from keras_seg.callbacks.lr_finder import LRFinder, find_lr
from keras_seg.callbacks.tensorboard_images import TensorBoardImages, choose_slices

__all__ = ["BestDSCCheckpoint", "LRFinder", "TensorBoardImages", "choose_slices", "find_lr",
           "save_atomically"]
