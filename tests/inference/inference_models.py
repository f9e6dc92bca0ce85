"""Tiny models for the inference tests: one translation-equivariant, one not."""

import numpy as np


class KerasPredictor:
    """A keras model as an inference predictor (``predict_batch``, ``stride``)."""

    def __init__(self, model, stride):
        self.model, self.stride = model, stride
        self.calls = []

    def predict_batch(self, x):
        self.calls.append(x.shape)
        return np.asarray(self.model(x, training=False))


def one_by_one_model(weights=(0.5, -1.0, 0.25), bias=0.1):
    """sigmoid(x @ weights + bias) per pixel: a 1x1 convolution, translation-equivariant."""
    import keras

    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(1, 1, activation="sigmoid", name="pixel")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.asarray(weights, np.float32).reshape(1, 1, 3, 1),
                      np.array([bias], np.float32)])
    return model
