"""keras-seg: 2D medical image segmentation with Keras 3.

Importing keras_seg also imports the top-level ``losses`` and ``callbacks`` packages, so that
their registered objects are known to ``keras.models.load_model``.
"""

import callbacks  # noqa: F401
import keras_seg.models  # noqa: F401
import losses  # noqa: F401  (registers the serializable losses and metrics)

__version__ = "0.1.0"
