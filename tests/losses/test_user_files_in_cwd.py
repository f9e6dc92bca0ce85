"""A user's own losses.py and callbacks.py in the working directory do not reach keras_seg."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]

USER_FILE = """
import pathlib
pathlib.Path(__file__).with_suffix(".imported").write_text("imported")
NAMES = ("not", "ours")
def get(*args, **kwargs):
    raise RuntimeError("the user's own module was used")
"""


@pytest.mark.slow
def test_train_ignores_a_users_losses_and_callbacks_modules(tmp_path):
    for name in ("losses", "callbacks"):
        (tmp_path / f"{name}.py").write_text(USER_FILE)
    config = {"model": {"name": "unet", "filters": 4, "depth": 2},
              "data": {"image_size": 32, "val_volumes": 1,
                       "options": {"num_volumes": 4, "slices_per_volume": 4}},
              "training": {"epochs": 1, "batch_size": 4}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "keras_seg", "train", "--config", "tiny.yaml", "--epochs", "1",
         "--output", "run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(tmp_path.glob("*.imported"))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] == 1
    assert (tmp_path / "run" / "config.yaml").exists()
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["loss"]["name"] == (
        "bce_logdice")
