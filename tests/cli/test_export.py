"""`export`: the SavedModel serves the Keras model's probabilities at any batch size."""

import sys

import keras
import numpy as np
import pytest

from keras_seg.errors import UserError
from keras_seg.export import (
    check_export,
    export,
    export_saved_model,
    load_keras_model,
    load_saved_model,
    network_stride,
    saved_model_channels,
    saved_model_stride,
)
from keras_seg.models import get_model


@pytest.fixture(scope="module")
def tiny_unet_path(tmp_path_factory):
    keras.utils.set_random_seed(3)
    model = get_model("unet", input_shape=(None, None, 2), filters=4, depth=2)
    path = tmp_path_factory.mktemp("unet") / "best.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("name, options, stride", [
    ("unet", {"depth": 2}, 4),
    ("unet", {"depth": 3, "upsampling": "bilinear"}, 8),
    ("attention_unet", {"depth": 3}, 8),
    ("unet_plus_plus", {"depth": 2, "deep_supervision": True}, 4),
])
def test_network_stride(name, options, stride):
    model = get_model(name, input_shape=(None, None, 1), filters=2, **options)
    assert network_stride(model) == stride


def test_saved_model_matches_keras_at_two_batch_sizes(tiny_unet_path, tmp_path):
    out = export(str(tiny_unet_path), str(tmp_path / "sm"))
    model = keras.models.load_model(tiny_unet_path)
    loaded = load_saved_model(out)
    assert saved_model_channels(loaded) == 2 and saved_model_stride(loaded) == 4
    rng = np.random.default_rng(0)
    for batch, height, width in ((1, 16, 16), (5, 12, 20)):
        x = rng.standard_normal((batch, height, width, 2)).astype(np.float32)
        served = np.asarray(loaded.serve(x))
        assert served.shape == (batch, height, width, 1) and served.dtype == np.float32
        assert 0.0 <= served.min() and served.max() <= 1.0
        np.testing.assert_allclose(served, np.asarray(model(x, training=False)), atol=1e-5)


def test_check_export_takes_images_of_any_size(tiny_unet_path, tmp_path):
    model = keras.models.load_model(tiny_unet_path)
    export_saved_model(model, str(tmp_path / "sm"))
    sample = np.random.default_rng(2).standard_normal((2, 21, 50, 2)).astype(np.float32)
    assert check_export(model, str(tmp_path / "sm"), sample) < 1e-5  # padded to 24 x 52


def test_check_export_fails_on_a_weight_changed_after_export(tiny_unet_path, tmp_path):
    model = keras.models.load_model(tiny_unet_path)
    export_saved_model(model, str(tmp_path / "sm"))
    last = model.layers[-1] if model.layers[-1].weights else model.layers[-2]
    kernel, *rest = last.get_weights()
    last.set_weights([kernel + 0.5, *rest])
    sample = np.random.default_rng(2).standard_normal((2, 16, 16, 2)).astype(np.float32)
    with pytest.raises(RuntimeError, match="differs from the Keras model by"):
        check_export(model, str(tmp_path / "sm"), sample)


class EagerOnlyOffset(keras.layers.Layer):
    """Adds 0.25 when run eagerly, nothing in a traced graph: a stand-in for a model whose
    eager and graph calls disagree (float32 round-off amplified by exploding activations)."""

    def call(self, x):
        import tensorflow as tf

        return x + 0.25 if tf.executing_eagerly() else x


def test_check_export_compares_with_the_traced_graph_and_warns_when_eager_differs(tmp_path):
    inputs = keras.Input((None, None, 1))
    outputs = EagerOnlyOffset()(keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    model = keras.Model(inputs, outputs)
    export_saved_model(model, str(tmp_path / "sm"))
    sample = np.random.default_rng(4).standard_normal((2, 8, 8, 1)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="eager and graph outputs differ by 0.25"):
        assert check_export(model, str(tmp_path / "sm"), sample) < 1e-6


def test_a_deep_supervision_model_serves_its_final_output(tmp_path):
    model = get_model("unet_plus_plus", input_shape=(None, None, 1), filters=2, depth=2,
                      deep_supervision=True)
    export_saved_model(model, str(tmp_path / "sm"))
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 1)).astype(np.float32)
    loaded = load_saved_model(str(tmp_path / "sm"))  # keep it alive: it owns the variables
    served = np.asarray(loaded.serve(x))
    np.testing.assert_allclose(served, np.asarray(model(x, training=False)), atol=1e-5)


def test_onnx_without_a_converter_is_a_clear_error(tiny_unet_path, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # makes `import tf2onnx` fail
    with pytest.raises(UserError, match="tf2onnx"):
        export(str(tiny_unet_path), str(tmp_path / "onnx"), fmt="onnx")


def test_unreadable_models_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="model file not found: .*missing.keras"):
        load_keras_model(str(tmp_path / "missing.keras"))
    (tmp_path / "broken.keras").write_bytes(b"not a zip file")
    with pytest.raises(UserError, match="cannot load model .*broken.keras"):
        load_keras_model(str(tmp_path / "broken.keras"))
    with pytest.raises(UserError, match="not a SavedModel directory"):
        load_saved_model(str(tmp_path))


def test_onnx_export_matches_keras(tiny_unet_path, tmp_path):
    pytest.importorskip("tf2onnx", reason="the optional ONNX converter tf2onnx is not installed")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    path = export(str(tiny_unet_path), str(tmp_path), fmt="onnx")
    session = ort.InferenceSession(path)
    model = keras.models.load_model(tiny_unet_path)
    for batch, height, width in ((1, 16, 16), (3, 12, 20)):
        x = np.random.default_rng(batch).standard_normal((batch, height, width, 2))
        x = x.astype(np.float32)
        served = session.run(None, {"image": x})[0]
        np.testing.assert_allclose(served, np.asarray(model(x, training=False)), atol=1e-5)
