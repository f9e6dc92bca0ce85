"""Keras backends: which one runs, how a command line picks it, and what each one offers.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so the backend of a process is
fixed before any model exists. A command line picks it with ``--backend NAME`` or the config key
``training.backend``; :func:`relaunch_for_backend` starts the command again under that backend
when the running one differs.

What each backend supports here (anything else is refused with one line):

- ``--distribute``: tensorflow ``none``, ``mirrored``, ``multi_worker`` (tf.distribute); jax
  ``none``, ``mirrored`` (keras.distribution.DataParallel over all local devices); torch ``none``.
- ``--jit``: tensorflow compiles with XLA when asked; jax always compiles (``jax.jit``); torch
  uses ``torch.compile`` when asked.
- mixed precision: on a TensorFlow CPU with native bfloat16, oneDNN's bfloat16 rewrite with the
  loss in float32 (the default there); elsewhere Keras' policy, float16 on a GPU, bfloat16 on a
  CPU (asked for only).
- SavedModel export: in process on tensorflow and jax (jax2tf), in a TensorFlow child process
  on torch (see ``keras_seg.export``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator

import yaml

from keras_seg.errors import UserError

BACKENDS = ("tensorflow", "jax", "torch")
# The ``--distribute`` values each backend's own engine supports.
DISTRIBUTE = {
    "tensorflow": ("none", "mirrored", "multi_worker"),
    "jax": ("none", "mirrored"),
    "torch": ("none",),
}
_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def current() -> str:
    """The backend Keras runs on in this process: ``tensorflow``, ``jax`` or ``torch``."""
    import keras

    return keras.backend.backend()


def is_installed(name: str) -> bool:
    """Whether the package of backend ``name`` can be imported (without importing it)."""
    return importlib.util.find_spec(_MODULES[name]) is not None


def check_name(name: str) -> None:
    """Refuse a backend that is not one of :data:`BACKENDS` or is not installed."""
    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}'; valid: {', '.join(BACKENDS)}")
    if not is_installed(name):
        raise UserError(f"backend '{name}' is not installed (pip install {_MODULES[name]})")


def require_tensorflow(feature: str):
    """Import and return TensorFlow; without it, a UserError naming ``feature``."""
    try:
        import tensorflow as tf
    except ImportError:
        raise UserError(f"{feature} needs TensorFlow, which is not installed "
                        "(pip install tensorflow)") from None
    return tf


def activate(name: str | None) -> str:
    """Make sure this process runs on backend ``name`` (None: whichever runs); return it.

    Before Keras is imported this sets ``KERAS_BACKEND``; afterwards a different backend is a
    UserError (the process must be started again with ``KERAS_BACKEND=name``).
    """
    if name is None:
        return current()
    check_name(name)
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = name
    running = current()
    if running != name:
        raise UserError(f"backend '{name}' asked for, but this process runs Keras on '{running}'; "
                        f"start it with KERAS_BACKEND={name}")
    return name


def requested(argv: list[str]) -> str | None:
    """The backend a command line asks for: ``--backend NAME``, else the ``training.backend``
    of its ``--config`` file, else None. Read before any argument parsing; an unreadable
    config file gives None (the config parser reports it later)."""
    def value(flag: str) -> str | None:
        for i, arg in enumerate(argv):
            if arg == flag and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
        return None

    name = value("--backend")
    if name is not None:
        return name
    config_path = value("--config")
    if config_path is None:
        return None
    try:
        with open(config_path) as f:
            content = yaml.safe_load(f)
        return content["training"]["backend"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def relaunch_for_backend(argv: list[str]) -> None:
    """Start this command again under the backend that ``argv`` asks for, if another one runs.

    For command-line entry points only (``train.py``, ``python -m keras_seg``): the process is
    replaced (``os.execv``) with the same command line and ``KERAS_BACKEND`` set. A bad or
    missing backend ends the process with ``error: ...`` and exit status 2.
    """
    name = requested(argv)
    if name is None or name == os.environ.get("KERAS_BACKEND"):
        return
    try:
        check_name(name)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if "keras" in sys.modules and current() == name:
        return
    os.environ["KERAS_BACKEND"] = name
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def check_distribution(name: str | None, backend: str | None = None) -> str:
    """``name`` (None means ``none``) if ``backend`` (default: the running one) supports it."""
    backend = backend or current()
    name = name or "none"
    valid = DISTRIBUTE[backend]
    if name not in valid:
        supported = "; ".join(f"{b}: {', '.join(v)}" for b, v in DISTRIBUTE.items())
        raise UserError(f"--distribute {name} is not supported on the {backend} backend "
                        f"(supported: {supported})")
    return name


@contextlib.contextmanager
def distribution_scope(name: str | None) -> Iterator[object | None]:
    """Run the enclosed model building and training with the backend's own distribution.

    - tensorflow: ``none`` (the default strategy), ``mirrored`` (``tf.distribute.MirroredStrategy``
      over all local GPUs) or ``multi_worker`` (``MultiWorkerMirroredStrategy``, needs
      ``TF_CONFIG``); yields the ``tf.distribute.Strategy``.
    - jax: ``none`` (yields None) or ``mirrored``: ``keras.distribution.DataParallel`` over all
      local devices (each batch split across them, weights replicated); yields it.
    - torch: ``none`` only (yields None).

    Anything else is a UserError that lists what each backend supports.
    """
    backend = current()
    name = check_distribution(name, backend)
    if backend == "tensorflow":
        tf = require_tensorflow("--distribute on the tensorflow backend")
        if name == "mirrored":
            strategy = tf.distribute.MirroredStrategy()
        elif name == "multi_worker":
            if "TF_CONFIG" not in os.environ:
                raise UserError("--distribute multi_worker needs the TF_CONFIG environment "
                                "variable")
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            strategy = tf.distribute.get_strategy()
        with strategy.scope():
            yield strategy
    elif backend == "jax" and name == "mirrored":
        import keras

        distribution = keras.distribution.DataParallel(
            devices=keras.distribution.list_devices())
        with distribution.scope():
            yield distribution
    else:
        yield None


def has_gpu() -> bool:
    """Whether the running backend computes on a GPU (asked of that backend only)."""
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    import torch

    return bool(torch.cuda.is_available())


@contextlib.contextmanager
def mixed_precision_policy(enabled: bool | str, jit: bool = False) -> Iterator[str]:
    """Train the enclosed block in mixed precision; yields what runs: a Keras policy name, or
    ``onednn_bfloat16``.

    ``enabled``: True, False or ``"auto"`` (the config's default: True exactly where the
    oneDNN rewrite below applies, so a GPU or another backend trains in float32 unless asked).

    Enabled where the rewrite applies (:func:`onednn_rewrite_applies`: a TensorFlow CPU with
    native bfloat16, oneDNN on, ``jit`` off): oneDNN's bfloat16 graph rewrite
    (:func:`onednn_bfloat16`) with the loss kept in float32 (:data:`FLOAT32_OPS`), back to its
    previous state on exit; Keras' policy stays float32, so weights,
    checkpoints and the optimizer are float32. Keras' ``mixed_bfloat16`` policy would leave
    TensorFlow's CPU convolutions in float32 (no gain). Elsewhere: Keras' ``mixed_float16`` on a
    GPU, ``mixed_bfloat16`` on any other CPU, the previous policy restored on exit. Disabled:
    nothing changes.
    """
    import keras

    native = onednn_rewrite_applies(jit)
    if enabled == "auto":
        enabled = native
    if enabled and native:
        with precision_scope("bfloat16"):
            yield "onednn_bfloat16"
        return
    previous = keras.mixed_precision.global_policy()
    if enabled:
        keras.mixed_precision.set_global_policy("mixed_float16" if has_gpu() else "mixed_bfloat16")
    try:
        yield keras.mixed_precision.global_policy().name
    finally:
        keras.mixed_precision.set_global_policy(previous)


PRECISIONS = ("auto", "float32", "bfloat16")


def inference_precision(requested: str) -> str:
    """The precision ``predict`` runs at: ``float32`` or ``bfloat16``.

    ``auto`` is ``bfloat16`` on a TensorFlow CPU that computes bfloat16 natively (oneDNN's
    rewrite: about 2x float32's images/s, mean per-volume DSC within 0.005, see README Speed),
    else ``float32``. ``bfloat16`` elsewhere is a UserError: only TensorFlow has the rewrite.
    """
    if requested not in PRECISIONS:
        raise UserError(f"unknown precision {requested!r}; valid: {', '.join(PRECISIONS)}")
    if requested == "auto":
        return "bfloat16" if onednn_rewrite_applies() else "float32"
    if requested == "bfloat16" and current() != "tensorflow":
        raise UserError(f"--precision bfloat16 needs the tensorflow backend (oneDNN's bfloat16 "
                        f"rewrite), not {current()}")
    return requested


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """Run the enclosed block at ``precision`` (``float32`` or ``bfloat16``), then put the
    rewrite back as it was (a server may have turned it on itself)."""
    was_on = onednn_bfloat16_on()
    on = precision == "bfloat16" and onednn_bfloat16(True)
    try:
        yield
    finally:
        if on and not was_on:
            onednn_bfloat16(False)


def onednn_bfloat16_on() -> bool:
    """Whether oneDNN's bfloat16 rewrite is on in this process."""
    if current() != "tensorflow":
        return False
    import tensorflow as tf

    return bool(tf.config.optimizer.get_experimental_options().get(
        "auto_mixed_precision_onednn_bfloat16"))


def onednn_rewrite_applies(jit: bool = False) -> bool:
    """Whether oneDNN's bfloat16 rewrite speeds this process up: the TensorFlow backend on a CPU
    with native bfloat16, oneDNN on (``TF_ENABLE_ONEDNN_OPTS`` not 0), and no XLA (``jit``: XLA
    compiles the step itself and the rewrite leaves it as it is)."""
    return (current() == "tensorflow" and not jit and not has_gpu() and cpu_has_bfloat16()
            and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0")


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX-BF16; Linux flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# Ops oneDNN's bfloat16 rewrite must leave in float32: the network's output activations and the
# transcendental functions and reductions a loss is made of. The rewrite's own lists are about
# speed: it rewrote sigmoid, log and the sums of BCE + log-Dice too, and a saturated sigmoid then
# rounds to exactly 1 in bfloat16 (8 bits of mantissa), so ``log(1 - p)`` is -inf and the
# training loss NaN. With these in float32 the loss, its inputs and its gradient up to the last
# convolution are float32 (every loss within 1 % of float32, saturated or not:
# tests/test_bfloat16_training.py).
FLOAT32_OPS = ("Sigmoid", "Softmax", "LogSoftmax", "Log", "Log1p", "Exp", "Expm1", "Softplus",
               "Pow", "Sum", "Mean")
_REWRITE_ENV = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_"


def _keep_float32(ops: tuple[str, ...]) -> None:
    """Put ``ops`` on the rewrite's deny list (and off its other lists: an op on two lists makes
    it give up). Read by TensorFlow each time it rewrites a graph; a user's own additions to
    these variables are kept."""
    for name in ("DENYLIST_ADD", "ALLOWLIST_REMOVE", "INFERLIST_REMOVE", "CLEARLIST_REMOVE"):
        key = _REWRITE_ENV + name
        listed = [op for op in os.environ.get(key, "").split(",") if op]
        os.environ[key] = ",".join(listed + [op for op in ops if op not in listed])


def onednn_bfloat16(enabled: bool) -> bool:
    """Turn TensorFlow's oneDNN bfloat16 graph rewrite on or off for this process.

    Grappler's ``auto_mixed_precision_onednn_bfloat16`` rewrites every graph TensorFlow runs
    from then on (Keras' train and predict functions, a SavedModel's signatures) to compute
    convolutions, matrix products, BatchNormalization and the elementwise ops between them in
    bfloat16 on oneDNN; variables, inputs and outputs stay float32, and so do the ops of
    :data:`FLOAT32_OPS` (the output activation and the loss). Unlike Keras' ``mixed_bfloat16``
    policy it reaches oneDNN's bfloat16 kernels on the CPU. It takes effect for functions traced
    after the call. Only on TensorFlow; returns whether it is on.
    """
    if current() != "tensorflow":
        return False
    import tensorflow as tf

    if enabled:
        _keep_float32(FLOAT32_OPS)
    tf.config.optimizer.set_experimental_options(
        {"auto_mixed_precision_onednn_bfloat16": bool(enabled)})
    return bool(enabled)


def jit_compile(requested: bool) -> bool:
    """The ``jit_compile`` argument for ``Model.compile`` on the running backend.

    JAX always compiles the train step with ``jax.jit`` (un-jitted JAX runs op by op, many
    times slower), so there it is True whatever was asked; TensorFlow (XLA) and torch
    (``torch.compile``) compile only when asked.
    """
    return True if current() == "jax" else bool(requested)
