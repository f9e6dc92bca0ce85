"""Fixtures for the command-line tests: a hand-built model whose predictions are known exactly."""

import pytest
from cli_pixel_model import pixel_model


@pytest.fixture(scope="package", autouse=True)
def float32_by_default():
    """``precision="auto"`` means float32 here: the reports are checked against float32 numpy.
    bfloat16 inference has its own tests (test_predict's precision test, tests/inference)."""
    from keras_seg import backend

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backend, "cpu_has_bfloat16", lambda: False)
        yield


@pytest.fixture(scope="session")
def pixel_model_path(tmp_path_factory):
    """The pixel model saved as ``run/best.keras`` (no config.yaml beside it)."""
    path = tmp_path_factory.mktemp("pixel_run") / "best.keras"
    pixel_model().save(path)
    return path
