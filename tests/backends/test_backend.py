"""keras_seg.backend: picking a backend on the command line, and what each backend supports."""

import keras
import pytest

from keras_seg import backend
from keras_seg.errors import UserError


@pytest.mark.parametrize("argv, expected", [
    (["--backend", "jax", "--epochs", "1"], "jax"),
    (["--epochs", "1", "--backend=torch"], "torch"),
    (["--epochs", "1"], None),
    (["--backend"], None),  # no value: argparse reports it later
])
def test_backend_flag(argv, expected):
    assert backend.requested(argv) == expected


def test_config_key_and_flag_precedence(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("training:\n  backend: jax\n  epochs: 1\n")
    assert backend.requested(["--config", str(config)]) == "jax"
    assert backend.requested([f"--config={config}"]) == "jax"
    assert backend.requested(["--config", str(config), "--backend", "torch"]) == "torch"


@pytest.mark.parametrize("text", ["training: {epochs: 1}\n", "[1, 2\n", "- a\n- b\n", ""])
def test_config_without_a_backend_key_asks_for_none(tmp_path, text):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert backend.requested(["--config", str(config)]) is None
    assert backend.requested(["--config", str(tmp_path / "missing.yaml")]) is None


def test_unknown_backend_is_a_user_error():
    with pytest.raises(UserError, match=r"unknown backend 'mxnet'; valid: tensorflow, jax, torch"):
        backend.check_name("mxnet")


def test_running_backend_cannot_change_in_process():
    running = keras.backend.backend()
    assert backend.activate(None) == running == backend.current()
    assert backend.activate(running) == running
    others = [b for b in backend.BACKENDS if b != running and backend.is_installed(b)]
    if not others:
        pytest.skip("only one Keras backend is installed")
    other = others[0]
    with pytest.raises(UserError, match=f"start it with KERAS_BACKEND={other}"):
        backend.activate(other)


@pytest.mark.parametrize("name, engine, ok", [
    ("none", "tensorflow", True), ("mirrored", "tensorflow", True),
    ("multi_worker", "tensorflow", True), (None, "jax", True), ("mirrored", "jax", True),
    ("multi_worker", "jax", False), ("none", "torch", True), ("mirrored", "torch", False),
    ("multi_worker", "torch", False),
])
def test_distribution_support(name, engine, ok):
    if ok:
        assert backend.check_distribution(name, engine) == (name or "none")
    else:
        with pytest.raises(UserError) as info:
            backend.check_distribution(name, engine)
        message = str(info.value)
        assert message.startswith(f"--distribute {name} is not supported on the {engine} backend")
        assert "jax: none, mirrored" in message and "\n" not in message


def test_no_distribution_builds_plain_variables():
    with backend.distribution_scope("none"):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert [tuple(w.shape) for w in model.weights] == [(3, 2), (2,)]


def test_mixed_precision_is_bfloat16_on_cpu_and_restored(monkeypatch):
    """Keras' policy on a CPU without native bfloat16 (with it, TensorFlow trains under oneDNN's
    rewrite instead: tests/test_bfloat16_training.py)."""
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: False)
    before = keras.mixed_precision.global_policy().name
    assert not backend.has_gpu()  # the tests run on CPU wheels
    with backend.mixed_precision_policy(True) as policy:
        assert policy == "mixed_bfloat16"
        layer = keras.layers.Dense(2)
        assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
    assert keras.mixed_precision.global_policy().name == before
    with backend.mixed_precision_policy(False) as policy:
        assert policy == before


def test_jit_is_always_on_for_jax_only():
    always = backend.current() == "jax"
    assert backend.jit_compile(False) is always
    assert backend.jit_compile(True) is True
