"""``BilinearUpSampling2D``: Keras' bilinear values, free-size tracing, export and reloading."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_seg.export import export_saved_model, load_saved_model
from keras_seg.models import MODEL_NAMES, get_model
from keras_seg.models.bilinear_upsampling import BilinearUpSampling2D


def _images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_hand_computed_row():
    # Width [0, 4] -> [0, 0.75*0 + 0.25*4, 0.75*4 + 0.25*0, 4] (edges clamped); height 1 -> 2
    # identical rows.
    x = np.array([0.0, 4.0], "float32").reshape(1, 1, 2, 1)
    out = _numpy(BilinearUpSampling2D()(x))
    np.testing.assert_allclose(out[0, :, :, 0], [[0.0, 1.0, 3.0, 4.0]] * 2)


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (1, 1, 1, 2), (1, 8, 2, 1)])
def test_matches_keras_bilinear_upsampling(shape):
    x = _images(shape)
    expected = _numpy(keras.layers.UpSampling2D(2, interpolation="bilinear")(x))
    out = _numpy(BilinearUpSampling2D()(x))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_traces_with_free_sizes():
    layer = BilinearUpSampling2D()
    serve = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 3])])
    assert serve.get_concrete_function().output_shapes.as_list() == [None, None, None, 3]
    for shape in ((1, 4, 6, 3), (2, 3, 5, 3)):
        x = _images(shape)
        expected = _numpy(keras.layers.UpSampling2D(2, interpolation="bilinear")(x))
        np.testing.assert_allclose(serve(x).numpy(), expected, atol=1e-5)


def test_symbolic_output_shape_and_config():
    layer = BilinearUpSampling2D(name="up")
    assert tuple(layer(keras.Input((6, None, 4))).shape) == (None, 12, None, 4)
    clone = BilinearUpSampling2D.from_config(layer.get_config())
    assert clone.name == "up"
    assert keras.saving.get_registered_name(BilinearUpSampling2D) == (
        "keras_seg>BilinearUpSampling2D"
    )


def test_bilinear_unet_exports_and_serves_at_two_sizes(small_options, tmp_path):
    keras.utils.set_random_seed(0)
    model = get_model("unet", upsampling="bilinear", input_shape=(None, None, 2),
                      **small_options["unet"])
    export_saved_model(model, str(tmp_path / "saved_model"))
    loaded = load_saved_model(str(tmp_path / "saved_model"))
    for shape in ((1, 16, 16, 2), (2, 8, 12, 2)):
        x = _images(shape)
        np.testing.assert_allclose(
            loaded.serve(tf.constant(x)).numpy(), _numpy(model(x)), atol=1e-5
        )


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "unet"])
def test_other_bilinear_models_trace_with_free_sizes(small_options, strides, bilinear, name):
    # Tracing over [None, None, None, C] is the step of the export that Keras' bilinear
    # UpSampling2D fails; writing a SavedModel (slow for res_unet's ResNet34) is tested above.
    model = get_model(name, **bilinear(name), **small_options[name])
    serve = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec([None, None, None, 3])]
    )
    for shape in ((1, strides[name], strides[name], 3), (1, strides[name], 2 * strides[name], 3)):
        x = _images(shape)
        np.testing.assert_allclose(serve(x).numpy(), _numpy(model(x)), atol=1e-5)


def test_keras_file_loads_in_a_fresh_process_after_import_keras_seg(small_options, tmp_path):
    keras.utils.set_random_seed(0)
    model = get_model("unet", upsampling="bilinear", **small_options["unet"])
    model.save(tmp_path / "model.keras")
    x = _images((1, 16, 24, 3))
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import keras, numpy as np
        import keras_seg
        model = keras.models.load_model({str(tmp_path / "model.keras")!r})
        print(",".join(layer.name for layer in model.layers))
        x = np.load({str(tmp_path / "x.npy")!r})
        np.save({str(tmp_path / "out.npy")!r}, keras.ops.convert_to_numpy(model(x)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1].split(",") == [
        layer.name for layer in model.layers
    ]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), _numpy(model(x)))
