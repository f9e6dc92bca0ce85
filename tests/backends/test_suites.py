"""The loss and metric tests pass on the JAX and torch backends too.

CI runs ``pytest`` on TensorFlow; each test here runs the backend-neutral subset below in a fresh
interpreter with ``KERAS_BACKEND`` set, and first checks that Keras really runs on it there.
"""

import os
import pathlib
import subprocess
import sys

import pytest

from keras_seg import backend

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Hand-computed loss and metric values and loss saving. The models and callbacks run on each
# backend in test_cross_backend.py (build, train, save, load, export) and test_workflow.py
# (train.py with its callbacks, predict, export).
SUITE = (
    "tests/losses/test_loss_values.py",
    "tests/losses/test_loss_saving.py",
    "tests/test_metrics.py",
)
RUN = ("import sys, keras, pytest; "
       "assert keras.backend.backend() == sys.argv[1], keras.backend.backend(); "
       "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', *sys.argv[2:]]))")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jax", "torch"])
def test_backend_neutral_suite_passes(name):
    if not backend.is_installed(name):
        pytest.skip(f"Keras backend '{name}' is not installed (pip install {name})")
    env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", RUN, name, *SUITE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, (proc.stdout[-4000:] + proc.stderr[-2000:])
    assert " passed" in summary and "skipped" not in summary, summary
