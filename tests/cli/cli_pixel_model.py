"""A hand-built model whose predictions are known exactly, for the command-line tests.

A module of its own, imported by name: ``from conftest import ...`` picks whichever conftest.py
pytest loaded last when the whole suite runs.
"""

import numpy as np

WEIGHTS = np.array([-0.5, 1.0, 0.2], np.float32)  # per-channel weights of the logit
BIAS = -0.8
STRIDE = 8


def pixel_logits(images: np.ndarray) -> np.ndarray:
    """The logit of :func:`pixel_model` computed with numpy: a per-pixel linear function."""
    return images @ WEIGHTS + BIAS


def pixel_model():
    """A 3-channel model with stride 8 whose probability is sigmoid(pixel_logits) exactly.

    A per-pixel 1x1 convolution, plus a branch that pools three times, upsamples back and is
    multiplied by zero: it adds nothing but makes sizes that are not multiples of 8 fail, so
    whole-image prediction must pad.
    """
    import keras

    inputs = keras.Input((None, None, 3))
    logit = keras.layers.Conv2D(1, 1, name="logit")(inputs)
    pooled = keras.layers.MaxPooling2D(STRIDE, name="pool")(inputs)
    back = keras.layers.UpSampling2D(STRIDE, name="up")(pooled)
    zero = keras.layers.Conv2D(1, 1, kernel_initializer="zeros", name="zero")(back)
    summed = keras.layers.Add(name="add")([logit, zero])
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="prob")(summed)
    model = keras.Model(inputs, outputs, name="pixel")
    model.get_layer("logit").set_weights([WEIGHTS.reshape(1, 1, 3, 1), np.array([BIAS])])
    return model
