"""A ``.keras`` file is backend-neutral: saved under one backend, it serves the same
probabilities under the others, and each backend exports a SavedModel that serves them too.

This process runs on TensorFlow (the CI default); ``backend_child.py`` runs under JAX and torch.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_seg import backend
from keras_seg.export import final_output, load_saved_model
from keras_seg.models import get_model

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OTHER_BACKENDS = ("jax", "torch")
# Models saved here, trained one step so that weights and batch-norm statistics are not the
# initial ones.
MODELS = {
    "unet": {"filters": 4, "depth": 2},
    "attention_unet": {"filters": 4, "depth": 2},
}
ATOL = 1e-5


def probabilities(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(final_output(model(x, training=False)))


@pytest.fixture(scope="module")
def tensorflow_models(tmp_path_factory):
    if backend.current() != "tensorflow":
        pytest.skip("the cross-backend test runs from the TensorFlow backend")
    folder = tmp_path_factory.mktemp("tf_models")
    x = np.random.default_rng(0).standard_normal((2, 16, 24, 2)).astype(np.float32)
    np.save(folder / "x.npy", x)
    expected = {}
    for name, options in MODELS.items():
        keras.utils.set_random_seed(5)
        model = get_model(name, input_shape=(None, None, 2), **options)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, (x[..., :1] > 0).astype(np.float32), batch_size=2, epochs=1, verbose=0)
        model.save(folder / f"{name}.keras")
        expected[name] = probabilities(model, x)
    return folder, x, expected


@pytest.fixture(scope="module", params=OTHER_BACKENDS)
def child_run(request, tensorflow_models, tmp_path_factory):
    """The outputs of backend_child.py under one other backend, on copies of the TF models."""
    name = request.param
    if not backend.is_installed(name):
        pytest.skip(f"Keras backend '{name}' is not installed (pip install {name})")
    source, x, expected = tensorflow_models
    folder = tmp_path_factory.mktemp(f"on_{name}")
    for path in source.iterdir():
        shutil.copy(path, folder)
    env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(HERE / "backend_child.py"), str(folder)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return name, folder, x, expected


@pytest.mark.slow
@pytest.mark.parametrize("model_name", list(MODELS))
def test_tensorflow_keras_file_serves_the_same_probabilities_elsewhere(child_run, model_name):
    _, folder, _, expected = child_run
    served = np.load(folder / f"{model_name}.probs.npy")
    assert served.shape == (2, 16, 24, 1)
    np.testing.assert_allclose(served, expected[model_name], atol=ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("model_name", list(MODELS))
def test_saved_model_exported_elsewhere_serves_the_same_probabilities(child_run, model_name):
    _, folder, x, expected = child_run
    loaded = load_saved_model(str(folder / f"{model_name}.saved_model"))
    assert int(loaded.stride[0]) == 4
    np.testing.assert_allclose(np.asarray(loaded.serve(x)), expected[model_name], atol=ATOL)
    # Free sizes: a batch of one at another multiple of the stride.
    x2 = np.random.default_rng(1).standard_normal((1, 8, 32, 2)).astype(np.float32)
    model = keras.models.load_model(folder / f"{model_name}.keras")
    np.testing.assert_allclose(np.asarray(loaded.serve(x2)), probabilities(model, x2), atol=ATOL)


@pytest.mark.slow
def test_keras_file_saved_elsewhere_loads_in_tensorflow(child_run):
    _, folder, x, _ = child_run
    model = keras.models.load_model(folder / "native.keras")
    expected = np.load(folder / "native.probs.npy")
    assert 0.0 < expected.min() and expected.max() < 1.0
    np.testing.assert_allclose(probabilities(model, x), expected, atol=ATOL)
