"""Fixtures for the command-line tests: a hand-built model whose predictions are known exactly."""

import pytest
from cli_pixel_model import pixel_model


@pytest.fixture(scope="session")
def pixel_model_path(tmp_path_factory):
    """The pixel model saved as ``run/best.keras`` (no config.yaml beside it)."""
    path = tmp_path_factory.mktemp("pixel_run") / "best.keras"
    pixel_model().save(path)
    return path
