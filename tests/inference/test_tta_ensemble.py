"""Flip TTA (exact inverse, equivariance) and ensembles (the mean of the models)."""

import numpy as np
import pytest
from inference_models import KerasPredictor, one_by_one_model

from keras_seg.inference import Ensemble, InferenceOptions, flip_tta
from keras_seg.inference.tta import FLIPS, flip


def test_each_flip_is_undone_exactly():
    """A predictor returning its input: every flipped prediction maps back onto the image."""
    images = np.arange(2 * 3 * 5 * 1, dtype=np.float32).reshape(2, 3, 5, 1)
    np.testing.assert_array_equal(flip_tta(lambda x: x, images), images)


def test_a_position_only_predictor_is_averaged_over_the_flips():
    """A predictor that returns the column index whatever the image: the original and the
    horizontal flip give j and W-1-j, the vertical flips repeat them, so the mean is (W-1)/2."""
    images = np.zeros((1, 4, 6, 1), np.float32)
    out = flip_tta(lambda x: np.broadcast_to(np.arange(6, dtype=np.float32)[None, None, :, None],
                                             x.shape), images)
    np.testing.assert_allclose(out, 2.5)


def test_tta_makes_any_model_flip_equivariant(unet_predictor):
    images = np.random.default_rng(0).standard_normal((2, 16, 24, 3)).astype(np.float32)
    plain = Ensemble([unet_predictor], InferenceOptions(window="whole"))
    tta = Ensemble([unet_predictor], InferenceOptions(window="whole", tta="flip"))
    for axes in FLIPS.values():
        if not axes:
            continue
        # the network alone is not equivariant ...
        assert np.abs(plain(flip(images, axes)) - flip(plain(images), axes)).max() > 1e-4
        # ... its flip average is
        np.testing.assert_allclose(tta(flip(images, axes)), flip(tta(images), axes), atol=1e-5)


def test_tta_equals_the_mean_of_the_four_flipped_predictions(unet_predictor):
    images = np.random.default_rng(1).standard_normal((1, 16, 16, 3)).astype(np.float32)
    f = unet_predictor.predict_batch
    expected = (f(images) + f(images[:, :, ::-1])[:, :, ::-1] + f(images[:, ::-1])[:, ::-1]
                + f(images[:, ::-1, ::-1])[:, ::-1, ::-1]) / 4
    got = Ensemble([unet_predictor], InferenceOptions(window="whole", tta="flip"))(images)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_an_ensemble_averages_the_probabilities_of_its_models():
    a = KerasPredictor(one_by_one_model((1.0, 0.0, 0.0), 0.0), stride=1)
    b = KerasPredictor(one_by_one_model((0.0, -2.0, 1.0), 0.5), stride=1)
    images = np.random.default_rng(2).standard_normal((2, 8, 8, 3)).astype(np.float32)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    expected = (sigmoid(images[..., :1]) + sigmoid(-2 * images[..., 1:2] + images[..., 2:] + 0.5)
                ) / 2
    got = Ensemble([a, b], InferenceOptions(window="whole"))(images)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_an_ensemble_of_models_with_different_outputs_is_refused():
    import keras

    from keras_seg.errors import UserError

    inputs = keras.Input((None, None, 3))
    two = keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(inputs))
    models = [KerasPredictor(one_by_one_model(), 1), KerasPredictor(two, 1)]
    with pytest.raises(UserError, match="disagree: 2 output"):
        Ensemble(models, InferenceOptions(window="whole"))(np.zeros((1, 4, 4, 3), np.float32))
