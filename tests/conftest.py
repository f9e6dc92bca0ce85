"""Shared test set-up: quiet TensorFlow, paths of the real data in ../shared/data."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
LGG_DIR = SHARED_DATA / "lgg_mri_kaggle_3m" / "kaggle_3m"
ISBI_DIR = SHARED_DATA / "isbi2012_membrane"


def require(path: pathlib.Path) -> pathlib.Path:
    """Skip the calling test with a clear reason when real data is absent."""
    if not path.exists():
        pytest.skip(f"real data not found at {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture
def lgg_dir() -> pathlib.Path:
    return require(LGG_DIR)


@pytest.fixture
def isbi_dir() -> pathlib.Path:
    return require(ISBI_DIR)


@pytest.fixture(autouse=True)
def _keras_dtype_policy():
    """Each test starts and ends with the dtype policy it found (no leak between tests)."""
    import keras

    policy = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(policy)
