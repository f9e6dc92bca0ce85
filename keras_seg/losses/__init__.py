"""Segmentation losses and metrics for Keras 3, written with `keras.ops` only.

Each loss `x` comes three ways: a function `x(y_true, y_pred, ...)` returning one float32 value
per image, shape (B,); a registered class `XLoss(keras.losses.Loss)`; and the name users know
from the circulating snippets (`x_loss`, `dice_coef_loss`, `mixed_loss`, ...), an instance that
works both as the snippet's function (`loss=bce_logdice_loss`, `mixedLoss(y_true, y_pred, 10.)`)
and as its factory (`focal_loss(gamma=2., alpha=.25)` returns a configured loss). The metrics
`dice_coef`, `iou` and `mean_iou` work the same way. `get(name, **kwargs)` builds a loss by
name; `NAMES` lists the names. Importing this package registers every class with Keras, which
`keras.models.load_model` needs.
"""

from keras_seg.losses.bce import BCELoss, bce, bce_loss
from keras_seg.losses.combined import (
    BCEDiceLoss,
    BCELogDiceLoss,
    FocalDiceLoss,
    bce_dice,
    bce_dice_loss,
    bce_logdice,
    bce_logdice_loss,
    focal_dice,
    focal_dice_loss,
    mixed_loss,
    mixedLoss,
)
from keras_seg.losses.deep_supervision import DeepSupervisionLoss
from keras_seg.losses.dice import (
    DiceLoss,
    LogDiceLoss,
    dice,
    dice_coef_loss,
    dice_loss,
    log_dice,
    log_dice_loss,
)
from keras_seg.losses.focal import FocalLoss, focal, focal_loss
from keras_seg.losses.iou import SoftIoULoss, soft_iou, soft_iou_loss
from keras_seg.losses.lovasz import LovaszHingeLoss, lovasz_hinge, lovasz_hinge_loss
from keras_seg.losses.metrics import (
    DiceCoefficient,
    ForegroundIoU,
    MeanIoU,
    ThresholdMeanIoU,
    ThresholdMeanIoUPerImage,
    dice_coef,
    iou,
    mean_iou,
)
from keras_seg.losses.multiclass import DiceCELoss, dice_ce, dice_ce_loss
from keras_seg.losses.registry import NAMES, get
from keras_seg.losses.tversky import (
    FocalTverskyLoss,
    TverskyLoss,
    focal_tversky,
    focal_tversky_loss,
    tversky,
    tversky_loss,
)
from keras_seg.losses.weighted import (
    WeightedBCEDiceLoss,
    WeightedBCELoss,
    WeightedDiceLoss,
    border_weights,
    weighted_bce,
    weighted_bce_dice,
    weighted_bce_dice_loss,
    weighted_bce_loss,
    weighted_dice,
    weighted_dice_loss,
)

__all__ = [
    "NAMES",
    "DeepSupervisionLoss",
    "BCEDiceLoss",
    "BCELogDiceLoss",
    "BCELoss",
    "DiceCELoss",
    "DiceCoefficient",
    "DiceLoss",
    "FocalDiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "ForegroundIoU",
    "LogDiceLoss",
    "LovaszHingeLoss",
    "MeanIoU",
    "SoftIoULoss",
    "ThresholdMeanIoU",
    "ThresholdMeanIoUPerImage",
    "TverskyLoss",
    "WeightedBCEDiceLoss",
    "WeightedBCELoss",
    "WeightedDiceLoss",
    "bce",
    "bce_dice",
    "bce_dice_loss",
    "bce_logdice",
    "bce_logdice_loss",
    "bce_loss",
    "border_weights",
    "dice",
    "dice_ce",
    "dice_ce_loss",
    "dice_coef",
    "dice_coef_loss",
    "dice_loss",
    "focal",
    "focal_dice",
    "focal_dice_loss",
    "focal_loss",
    "focal_tversky",
    "focal_tversky_loss",
    "get",
    "iou",
    "log_dice",
    "log_dice_loss",
    "lovasz_hinge",
    "lovasz_hinge_loss",
    "mean_iou",
    "mixedLoss",
    "mixed_loss",
    "soft_iou",
    "soft_iou_loss",
    "tversky",
    "tversky_loss",
    "weighted_bce",
    "weighted_bce_dice",
    "weighted_bce_dice_loss",
    "weighted_bce_loss",
    "weighted_dice",
    "weighted_dice_loss",
]
