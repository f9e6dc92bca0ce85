"""Trained models in files: load a ``.keras`` model, export it as a SavedModel (or ONNX).

The SavedModel has one ``serve`` signature, float32 ``[batch, H, W, C]`` -> probabilities of the
final output (batch and spatial sizes free), and a variable collection ``stride``: the network's
total downsampling factor, which H and W must be multiples of (``predict`` pads to it).

The ``.keras`` file is backend-neutral. Keras' own export writes the SavedModel on the
TensorFlow and JAX backends (JAX through jax2tf); on torch, whose Keras export needs torch_xla,
the ``.keras`` file is exported by ``python -m keras_seg export`` in a child process on the
TensorFlow backend. TensorFlow is needed for SavedModels either way, and imported only here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings

import keras
import numpy as np

from keras_seg import backend
from keras_seg.data.padding import pad_to_multiple
from keras_seg.errors import UserError
from keras_seg.models.fold import fold_batchnorm

SAVED_MODEL_FORMATS = ("saved_model", "onnx")
ONNX_FILE = "model.onnx"
# Assumed for SavedModels written without a recorded stride: any U-Net of depth <= 5 fits.
FALLBACK_STRIDE = 32
# Backends whose Keras export writes a SavedModel in process.
NATIVE_EXPORT_BACKENDS = ("tensorflow", "jax")
# Platforms a SavedModel written on JAX serves on (jax2tf lowers the model once per platform).
JAX_EXPORT_PLATFORMS = ("cpu", "cuda")


def final_output(outputs):
    """The output used for prediction: the last one of a deep-supervised model."""
    return outputs[-1] if isinstance(outputs, (list, tuple)) else outputs


def load_keras_model(path: str) -> keras.Model:
    """Load a ``.keras`` model (safe mode on); a missing or unreadable file is a UserError."""
    if not os.path.isfile(path):
        raise UserError(f"model file not found: {path}")
    try:
        return keras.models.load_model(path)
    except Exception as e:  # Keras raises many types for a bad file; all mean "unreadable"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load model {path}: {reason}") from None


def network_stride(model: keras.Model, probe_size: int = 1024) -> int:
    """The total downsampling factor of ``model``: input sizes must be multiples of it.

    Found symbolically (no computation): the input size divided by the smallest spatial size
    among the layer outputs for a ``probe_size`` square input. Outputs whose size does not grow
    with the input (global pooling: squeeze-excite blocks, DeepLabV3+'s image pooling) are left
    out, by probing at two sizes.
    """
    outputs = []
    for layer in model.layers:
        try:
            outputs += [t for t in keras.tree.flatten(layer.output) if len(t.shape) == 4]
        except (AttributeError, ValueError):  # a layer called more than once has no .output
            continue
    probe = keras.Model(model.inputs, outputs)
    channels = model.inputs[0].shape[-1]

    def sizes(side: int) -> list[int]:
        specs = probe.compute_output_spec(keras.KerasTensor((1, side, side, channels)))
        return [int(s.shape[1]) for s in keras.tree.flatten(specs)]

    small, large = sizes(probe_size), sizes(2 * probe_size)
    return probe_size // min(a for a, b in zip(small, large, strict=True) if b != a)


def export_saved_model(model: keras.Model, path: str, fold: bool = True) -> keras.Model | None:
    """Write ``model`` to ``path`` as a SavedModel with one ``serve`` signature.

    ``serve`` takes float32 ``[batch, H, W, C]`` (batch and spatial sizes free, H and W
    multiples of the recorded ``stride``) and returns the probabilities of the model's final
    output. ``fold`` (default): the graph is :func:`keras_seg.models.fold_batchnorm`'s copy,
    BatchNormalization folded into the convolutions (same outputs within float32 round-off,
    faster to serve). On a backend without in-process export the model goes through a
    ``.keras`` file and :func:`export_in_tensorflow`.

    Returns:
        The Keras model the graph was traced from (the folded copy, or ``model``), for
        :func:`check_export`; None when a TensorFlow child process exported it.
    """
    if backend.current() not in NATIVE_EXPORT_BACKENDS:
        with tempfile.TemporaryDirectory() as tmp:
            keras_path = os.path.join(tmp, "model.keras")
            model.save(keras_path)
            export_in_tensorflow(keras_path, path, fold=fold)
        return None
    backend.require_tensorflow("SavedModel export")
    if fold:
        model = fold_batchnorm(model)
    channels = model.inputs[0].shape[-1]
    stride = network_stride(model)
    options = {}
    if backend.current() == "jax":
        # Sizes as multiples of the stride let jax2tf prove that every skip connection's
        # encoder and decoder sizes agree, for any input size.
        options["jax2tf_kwargs"] = {
            "polymorphic_shapes": [f"(batch, {stride}*h, {stride}*w, {channels})"],
            "native_serialization_platforms": JAX_EXPORT_PLATFORMS,
        }
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda x: final_output(model(x, training=False)),
        input_signature=[keras.InputSpec(shape=(None, None, None, channels), dtype="float32")],
        **options,
    )
    archive.add_variable_collection(
        "stride", [keras.Variable(stride, dtype="int32", trainable=False, name="stride")])
    archive.write_out(path, verbose=False)
    return model


def export_in_tensorflow(model_path: str, output: str, fmt: str = "saved_model",
                         fold: bool = True) -> None:
    """Export the ``.keras`` file ``model_path`` in a child process on the TensorFlow backend.

    Runs ``python -m keras_seg export`` with ``KERAS_BACKEND=tensorflow``, which also checks the
    result. Its one-line user error becomes a UserError here; any other failure a RuntimeError
    with the child's last output lines.
    """
    if not backend.is_installed("tensorflow"):
        raise UserError(f"{fmt} export needs TensorFlow, which is not installed "
                        "(pip install tensorflow)")
    command = [sys.executable, "-m", "keras_seg", "export", "--model", model_path,
               "--output", output, "--format", fmt] + ([] if fold else ["--no-fold-batchnorm"])
    result = subprocess.run(command, env={**os.environ, "KERAS_BACKEND": "tensorflow"},
                            capture_output=True, text=True)
    if result.returncode == 0:
        return
    lines = (result.stderr.strip() or result.stdout.strip()).splitlines() or ["(no output)"]
    if result.returncode == 2 and lines[-1].startswith("error: "):
        raise UserError(lines[-1][len("error: "):])
    tail = "\n".join(lines[-20:])
    raise RuntimeError(f"export on the tensorflow backend failed (exit status "
                       f"{result.returncode}):\n{tail}")


def load_saved_model(path: str):
    """Load a SavedModel written by ``export_saved_model``; call ``.serve(x)`` on the result.

    Keep the returned object alive while using ``serve``: it owns the variables.
    """
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise UserError(f"not a SavedModel directory (no saved_model.pb): {path}")
    tf = backend.require_tensorflow("loading a SavedModel")
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # TensorFlow raises several types for a damaged directory
        raise UserError(f"cannot load SavedModel {path}: {str(e).splitlines()[0]}") from None
    if not hasattr(loaded, "serve"):
        raise UserError(f"SavedModel {path} has no `serve` signature")
    return loaded


def saved_model_channels(loaded) -> int:
    """The channel count the ``serve`` signature of a loaded SavedModel takes."""
    return int(loaded.serve.input_signature[0].shape[-1])


def saved_model_stride(loaded) -> int:
    """The stride recorded by ``export_saved_model``, else :data:`FALLBACK_STRIDE`."""
    if hasattr(loaded, "stride"):
        return int(loaded.stride[0].numpy())
    return FALLBACK_STRIDE


def check_export(model: keras.Model, path: str, sample: np.ndarray, atol: float = 1e-4,
                 exported: keras.Model | None = None) -> float:
    """Reload the SavedModel and return its max abs difference to ``model`` on ``sample``.

    Two checks, each within ``atol`` (1e-4 on probabilities):

    - the export: the SavedModel against the model it was written from (``exported``, what
      :func:`export_saved_model` returned; default: :func:`keras_seg.models.fold_batchnorm`'s
      copy of ``model``, what it writes by default), called as the SavedModel holds it: traced
      as a graph on TensorFlow, the backend's own call elsewhere. A wrong weight, layer or
      preprocessing moves the outputs by orders of magnitude more than ``atol``;
    - ``model`` itself (eager call) against that reference: what folding and tracing change.
      A traced graph sums in other orders than an eager call (fused convolutions), which moved
      a ResNet34-encoder U-Net's outputs by 1.3e-5, and folding rounds the products once more.
      A model whose eager and traced calls already differ by more than ``atol`` is numerically
      unstable (activations of order 1e4 and more, as a deep encoder from random weights whose
      BatchNorm statistics have not been learned yet: EfficientNetV2-L after a few steps): no
      export can match both, so this second check only warns for it, naming the difference.

    ``sample`` (N, H, W, C) may have any size: it is zero-padded to the network's stride.
    ``model`` may run on any backend: the SavedModel is served by TensorFlow.

    Returns:
        The larger of the two differences (the first alone for an unstable model).
    """
    sample, _ = pad_to_multiple(np.asarray(sample, np.float32), network_stride(model))
    loaded = load_saved_model(path)
    served = np.asarray(loaded.serve(sample))
    if exported is None:
        exported = fold_batchnorm(model)
    reference = _as_served(exported, sample)
    diff = float(np.max(np.abs(served - reference)))
    if diff > atol:
        raise RuntimeError(f"exported model differs from the Keras model by {diff:.3g}")
    called = keras.ops.convert_to_numpy(final_output(model(sample, training=False)))
    drift = float(np.max(np.abs(called - reference)))
    if drift > atol:
        unstable = float(np.max(np.abs(called - _as_served(model, sample))))
        if unstable <= atol:
            raise RuntimeError(f"folding BatchNormalization changed the outputs by "
                               f"{drift:.3g}")
        warnings.warn(f"the model's eager and graph outputs differ by {unstable:.3g} on the "
                      "check's sample: it is numerically unstable there (exploding "
                      "activations?); the SavedModel was checked against the graph",
                      RuntimeWarning, stacklevel=2)
    return max(diff, drift if drift <= atol else 0.0)


def _as_served(model: keras.Model, sample: np.ndarray) -> np.ndarray:
    """``model``'s probabilities on ``sample`` as a SavedModel computes them: traced as a graph
    on TensorFlow, the backend's own call elsewhere."""
    if keras.backend.backend() != "tensorflow":
        return keras.ops.convert_to_numpy(final_output(model(sample, training=False)))
    import tensorflow as tf

    traced = tf.function(lambda x: final_output(model(x, training=False)), autograph=False)
    return traced(tf.constant(sample)).numpy()


def export_onnx(model: keras.Model, path: str, opset: int = 17) -> None:
    """Write ``model``'s final output as an ONNX graph (input ``image``, float32 NHWC).

    Needs the TensorFlow backend and the optional ``tf2onnx`` converter; without the converter
    this is a UserError saying so.
    """
    tf = backend.require_tensorflow("ONNX export")
    try:
        import tf2onnx
    except ImportError:
        raise UserError("--format onnx needs the tf2onnx converter, which is not installed "
                        "(pip install tf2onnx); the SavedModel format needs nothing more") from None
    channels = model.inputs[0].shape[-1]
    spec = (tf.TensorSpec([None, None, None, channels], tf.float32, name="image"),)
    serve = tf.function(lambda image: final_output(model(image, training=False)))
    tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset, output_path=path)


def export(model_path: str, output: str, fmt: str = "saved_model",
           sample: np.ndarray | None = None, fold: bool = True) -> str:
    """Export the ``.keras`` model at ``model_path`` into the directory ``output``.

    On a backend that cannot write ``fmt`` in process (ONNX: all but TensorFlow; SavedModel:
    torch) the file is exported by :func:`export_in_tensorflow`. The SavedModel is then checked
    by reloading it and comparing its ``serve`` output with the Keras model on this backend, on
    ``sample`` (N, H, W, C; padded to the network's stride) or else a random batch of two images
    of the model's input size, or, for a size-free model, squares of twice the network stride.
    ``fold``: serve the graph with BatchNormalization folded into the convolutions
    (:func:`export_saved_model`). A progress bar follows the steps.

    Returns:
        The path written: ``output`` (SavedModel) or ``output/model.onnx``.
    """
    if fmt not in SAVED_MODEL_FORMATS:
        raise UserError(f"unknown export format '{fmt}'; valid: {', '.join(SAVED_MODEL_FORMATS)}")
    progress = keras.utils.Progbar(3, unit_name="step")
    model = load_keras_model(model_path)
    progress.update(1)
    try:
        os.makedirs(output, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot write the export to {output}: {e.strerror}") from None
    native = (backend.current() == "tensorflow" if fmt == "onnx"
              else backend.current() in NATIVE_EXPORT_BACKENDS)
    target = os.path.join(output, ONNX_FILE) if fmt == "onnx" else output
    exported = None  # the model the graph was traced from, when traced in this process
    if not native:
        export_in_tensorflow(model_path, output, fmt, fold)
        exported = None if fold else model
    elif fmt == "onnx":
        export_onnx(fold_batchnorm(model) if fold else model, target)
    else:
        exported = export_saved_model(model, output, fold)
    progress.update(2)
    if fmt == "saved_model":
        if sample is None:
            height, width, channels = model.inputs[0].shape[1:]
            if height is None or width is None:
                height = width = 2 * network_stride(model)
            sample = np.random.default_rng(0).standard_normal(
                (2, height, width, channels)).astype(np.float32)
        check_export(model, output, sample, exported=exported)
    progress.update(3, finalize=True)
    return target
