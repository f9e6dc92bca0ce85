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


@pytest.fixture(scope="session", autouse=True)
def _float32_unless_asked():
    """In-process tests run in float32 on any CPU: ``precision: auto`` and ``mixed_precision:
    auto`` would pick bfloat16 on a CPU with native bfloat16, and most tests compare against
    float32 numpy. bfloat16 has its own tests (tests/test_bfloat16_training.py,
    tests/inference/test_precision.py), which ask for it or patch this back."""
    from keras_seg import backend

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backend, "cpu_has_bfloat16", lambda: False)
        yield
