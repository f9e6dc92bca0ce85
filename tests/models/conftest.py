"""Fixtures for the model tests: small configurations of every builder and a policy guard."""

import keras
import pytest

# Options that keep each builder small enough for CPU tests. res_unet's ResNet34 encoder has a
# fixed width; only its decoder is shrunk.
SMALL_OPTIONS = {
    "unet": {"filters": 4, "depth": 2},
    "attention_unet": {"filters": 4, "depth": 2},
    "res_unet": {"decoder_filters": (8, 8, 8, 8, 8)},
    "unet_plus_plus": {"filters": 4, "depth": 2},
}
# The spatial size each small configuration needs to be a multiple of.
STRIDE = {"unet": 4, "attention_unet": 4, "res_unet": 32, "unet_plus_plus": 4}


@pytest.fixture(scope="session")
def small_options():
    return SMALL_OPTIONS


@pytest.fixture(scope="session")
def strides():
    return STRIDE


@pytest.fixture
def mixed_precision():
    """Set the ``mixed_float16`` global policy for one test, then restore the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)
