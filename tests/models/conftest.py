"""Fixtures for the model tests: small configurations of every builder and a policy guard."""

import keras
import pytest

# Options that keep each builder small enough for CPU tests. res_unet's, fpn's and
# deeplabv3_plus's ResNet34 encoder has a fixed width; only their decoders are shrunk.
SMALL_OPTIONS = {
    "unet": {"filters": 4, "depth": 2},
    "attention_unet": {"filters": 4, "depth": 2},
    "res_unet": {"decoder_filters": (8, 8, 8, 8, 8)},
    "unet_plus_plus": {"filters": 4, "depth": 2},
    "fpn": {"pyramid_filters": 8, "segmentation_filters": 8},
    "deeplabv3_plus": {"aspp_filters": 8, "low_level_filters": 4},
}
# The spatial size each small configuration needs to be a multiple of.
STRIDE = {
    "unet": 4, "attention_unet": 4, "res_unet": 32, "unet_plus_plus": 4, "fpn": 32,
    "deeplabv3_plus": 32,
}


@pytest.fixture(scope="session")
def small_options():
    return SMALL_OPTIONS


@pytest.fixture(scope="session")
def strides():
    return STRIDE


@pytest.fixture(scope="session")
def bilinear():
    """``name`` -> ``{"upsampling": "bilinear"}`` for builders that offer the choice, else ``{}``
    (FPN and DeepLabV3+ always upsample bilinearly)."""
    from keras_seg.models import builder_options

    return lambda name: {"upsampling": "bilinear"} if "upsampling" in builder_options(name) else {}


@pytest.fixture
def mixed_precision():
    """Set the ``mixed_float16`` global policy for one test, then restore the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)
