"""keras_seg, its losses and its callbacks import and run with Keras on JAX and no TensorFlow;
only TensorBoard writing needs TensorFlow, and says so."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys

class BlockTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, BlockTensorFlow())
import numpy as np
import keras
import keras_seg
import callbacks
import losses
from keras_seg.callbacks import TensorBoardImages

y = np.zeros((1, 8, 8, 1), "float32"); y[0, 2:6, 2:6] = 1
p = np.full_like(y, 0.5)
value = float(losses.dice_loss(y, p))
model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 1, activation="sigmoid")])
images = TensorBoardImages(np.zeros((1, 8, 8, 1)), y, log_dir=sys.argv[1], every=1)
images.set_model(model)
try:
    images.write(0)
    error = None
except ImportError as e:
    error = str(e)
print("RESULT" + json.dumps({
    "backend": keras.backend.backend(), "dice": value, "error": error,
    "tensorflow_loaded": any(m.split(".")[0] == "tensorflow" for m in sys.modules),
    "modules": sorted(m for m in sys.modules if m.startswith("keras_seg."))}))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_import_and_losses_without_tensorflow(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert out["backend"] == "jax" and not out["tensorflow_loaded"]
    # Dice of a 16-pixel square against p = 0.5 everywhere: 1 - (2*8 + 1) / (32 + 16 + 1)
    assert out["dice"] == pytest.approx(1 - 17 / 49, rel=1e-6)
    assert out["error"].startswith("TensorBoardImages writes TensorBoard event files")
    assert "pip install tensorflow" in out["error"]
    # losses and callbacks import nothing of the training side
    training_side = {"keras_seg.config", "keras_seg.schema", "keras_seg.training",
                     "keras_seg.cli", "keras_seg.data"}
    assert not training_side & {m.rsplit(".", 1)[0] if m.count(".") > 1 else m
                                for m in out["modules"]}
