"""Fixtures of the inference tests: predictors of tiny models (see inference_models)."""

import pytest
from inference_models import KerasPredictor, one_by_one_model


@pytest.fixture(scope="session")
def pixel_predictor():
    return KerasPredictor(one_by_one_model(), stride=1)


@pytest.fixture(scope="session")
def unet_predictor():
    """A randomly initialised U-Net of depth 2 (stride 4): neither flip- nor shift-equivariant."""
    import keras

    from keras_seg.models import get_model

    keras.utils.set_random_seed(3)
    return KerasPredictor(get_model("unet", input_shape=(None, None, 3), filters=4, depth=2),
                          stride=4)
