"""Training, inference and serving throughput of a keras-seg model, as one JSON line.

Each figure runs the code path the package runs:

- ``train_img_per_s``: ``model.fit`` on a ``keras_seg.data.pipeline.make_dataset`` training
  pipeline (shuffle and the default augmentation, repeated), with the model of
  ``keras_seg.models.get_model`` built size-free as ``train.py`` builds it, the loss of
  ``losses.get`` and ``keras.optimizers.Adam``: forward, loss, backward and optimizer update.
  Steps are timed by a callback at each batch end, after ``--warmup`` untimed steps (tracing,
  XLA compilation).
- ``infer_img_per_s``: ``model.predict_on_batch`` per batch of ``--batch-size`` in-memory
  images (what ``python -m keras_seg predict`` calls), of the model with BatchNormalization
  folded into its convolutions as ``predict`` runs it (``keras_seg.models.fold_batchnorm``;
  ``--fold-batchnorm 0``: the model as trained).
- ``serve_img_per_s``: the SavedModel written by ``keras_seg.export.export_saved_model``
  (folded likewise), reloaded with ``load_saved_model`` and called through its ``serve``
  endpoint per batch.
- ``train_gflop_per_s``: 3 x the forward convolution FLOPs of the model (counted from the layer
  shapes, :func:`forward_conv_flops`) per second of training; ``train_gflop_per_cpu_s`` and
  ``train_img_per_cpu_s`` per second of process CPU time (all threads), the figures a loaded,
  shared machine disturbs least.

The defaults are the reference comparison: U-Net with 32 filters, 256x256x3, batch 16, soft
Dice pooled over the batch, float32, the package's default compile settings (no XLA).

``--backend tensorflow|jax|torch`` picks the Keras backend (default: ``KERAS_BACKEND``). The
compile setting is the one ``train.py`` uses there (``keras_seg.backend.jit_compile``: JAX always
compiles); ``serve_img_per_s`` is TensorFlow serving the SavedModel each backend exports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def backend_arg(argv: list[str]) -> str | None:
    """The ``--backend`` of ``argv``, read before Keras is imported (Keras reads it once)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--backend")
    return pre.parse_known_args(argv)[0].backend


if __name__ == "__main__" and backend_arg(sys.argv[1:]):
    os.environ["KERAS_BACKEND"] = backend_arg(sys.argv[1:])

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_seg import backend, losses  # noqa: E402
from keras_seg.commands.common import data_option  # noqa: E402
from keras_seg.data.pipeline import make_dataset  # noqa: E402
from keras_seg.data.sliceset import SliceSet  # noqa: E402
from keras_seg.export import export_saved_model, load_saved_model  # noqa: E402
from keras_seg.models import fold_batchnorm, get_model, head_count  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16", "onednn_bfloat16")


class StepTimer(keras.callbacks.Callback):
    """Record the wall-clock and process CPU time at every training batch end."""

    def __init__(self):
        super().__init__()
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())


def forward_conv_flops(model) -> int:
    """FLOPs (2 per multiply-add) of one forward pass through every convolution of ``model``.

    ``model`` must have a fixed input size. A ``Conv2D`` costs
    ``2 * H_out * W_out * k_h * k_w * C_in / groups * C_out``; a ``Conv2DTranspose`` the same
    with the input's ``H * W``. Normalisation, activations, pooling and the loss are left out
    (they are memory-bound and cost few FLOPs). Counts one image.
    """
    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, c_in = layer.input.shape
            kh, kw = layer.kernel_size
            total += 2 * h * w * kh * kw * c_in * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1] // layer.groups
            total += 2 * h * w * kh * kw * c_in * c_out
    return total


def random_slices(count: int, image_size: int, channels: int, seed: int):
    """A ``SliceSet`` of random images with ~10 % random foreground, 4 slices per volume."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((count, image_size, image_size, channels), dtype=np.float32)
    masks = (rng.random((count, image_size, image_size, 1)) < 0.1).astype(np.uint8)
    return SliceSet(images, masks, volume_ids=[f"v{i // 4}" for i in range(count)],
                    slice_index=[i % 4 + 1 for i in range(count)])


def images_per_second(times: list[float], batch_size: int, warmup: int) -> float:
    """Throughput between the end of the ``warmup``-th step and the end of the last one."""
    steps = len(times) - warmup
    return batch_size * steps / (times[-1] - times[warmup - 1])


def measure(args: argparse.Namespace) -> dict:
    """Build, train, predict and serve the model of ``args``; return the JSON record."""
    if args.backend and args.backend != backend.current():
        raise SystemExit(f"error: --backend {args.backend}, but Keras already runs on "
                         f"{backend.current()} (run this script as a program)")
    if args.intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    if args.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    if args.precision == "onednn_bfloat16":
        backend.onednn_bfloat16(True)
    else:
        keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(args.seed)
    options = {"filters": args.filters} if args.filters else {}
    options.update(args.option)
    shape = (args.image_size, args.image_size, args.channels)
    flops = forward_conv_flops(get_model(args.model, input_shape=shape, **options))
    keras.backend.clear_session()
    model = get_model(args.model, input_shape=(None, None, args.channels), **options)
    heads = head_count(model)
    loss = losses.get(args.loss, **({"batch": True} if args.loss_batch else {}))
    model.compile(optimizer=keras.optimizers.Adam(args.lr),
                  loss=losses.DeepSupervisionLoss(loss, heads=heads) if heads > 1 else loss,
                  jit_compile=backend.jit_compile(args.jit_compile), steps_per_execution=1)

    data = random_slices(args.batch_size * 2, args.image_size, args.channels, args.seed)
    dataset = make_dataset(data, args.batch_size, training=True, seed=args.seed,
                           augment=True).repeat()
    timer = StepTimer()
    model.fit(dataset, epochs=1, steps_per_epoch=args.warmup + args.steps, verbose=0,
              callbacks=[timer])
    train = images_per_second(timer.wall, args.batch_size, args.warmup)
    train_cpu = images_per_second(timer.cpu, args.batch_size, args.warmup)

    images = data.images[: args.batch_size]
    inference = fold_batchnorm(model) if args.fold_batchnorm else model  # as predict does
    inference.predict_on_batch(images)  # traces; then one call per batch, as predict does
    start = time.perf_counter()
    for _ in range(args.infer_steps):
        inference.predict_on_batch(images)
    infer = args.infer_steps * args.batch_size / (time.perf_counter() - start)

    serve = None
    if args.serve_steps:
        with tempfile.TemporaryDirectory() as tmp:
            export_saved_model(inference, os.path.join(tmp, "saved_model"), fold=False)
            served = load_saved_model(os.path.join(tmp, "saved_model"))
            x = tf.constant(images)
            served.serve(x)
            start = time.perf_counter()
            for _ in range(args.serve_steps):
                served.serve(x).numpy()
            serve = args.serve_steps * args.batch_size / (time.perf_counter() - start)

    return {
        "framework": "keras",
        "backend": backend.current(),
        "model": args.model,
        "train_img_per_s": round(train, 3),
        "infer_img_per_s": round(infer, 3),
        "serve_img_per_s": None if serve is None else round(serve, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "train_img_per_cpu_s": round(train_cpu, 3),
        "forward_gflop_per_img": round(flops / 1e9, 3),
        "train_gflop_per_s": round(3 * flops / 1e9 * train, 2),
        "train_gflop_per_cpu_s": round(3 * flops / 1e9 * train_cpu, 2),
        "settings": {
            "filters": args.filters, "options": args.option, "batch_size": args.batch_size,
            "image_size": args.image_size, "channels": args.channels,
            "parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "loss": args.loss, "loss_batch": args.loss_batch, "lr": args.lr,
            "steps": args.steps, "warmup": args.warmup, "infer_steps": args.infer_steps,
            "serve_steps": args.serve_steps,
            "jit_compile": backend.jit_compile(args.jit_compile), "precision": args.precision,
            "fold_batchnorm": bool(args.fold_batchnorm),
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (on)"),
            "train": "model.fit on make_dataset(training=True, augment=True).repeat()",
            "infer": "fold_batchnorm(model).predict_on_batch(images) per batch",
            "serve": "keras_seg.export SavedModel, serve endpoint",
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "backend_version": backend_version(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
    }


def backend_version() -> str:
    """The version of the package the running Keras backend computes with."""
    module = {"tensorflow": "tensorflow", "jax": "jaxlib", "torch": "torch"}[backend.current()]
    return __import__(module).__version__


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="unet")
    parser.add_argument("--backend", choices=backend.BACKENDS,
                        help="Keras backend (default: KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--filters", type=int, default=32,
                        help="first-level features; 0 keeps the builder's default")
    parser.add_argument("--option", type=data_option, action="append", default=[],
                        metavar="KEY=VALUE",
                        help="a builder option (value read as YAML), repeatable: "
                             "--option encoder=resnet50 --option depth=5")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--loss", default="dice")
    parser.add_argument("--loss-batch", type=int, choices=(0, 1), default=1,
                        help="1: Dice sums pooled over the batch, as the reference kit")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument("--infer-steps", type=int, default=5, help="timed inference batches")
    parser.add_argument("--serve-steps", type=int, default=None,
                        help="timed SavedModel batches (default: --infer-steps; 0 skips "
                             "the export and serve_img_per_s is null)")
    parser.add_argument("--jit-compile", type=int, choices=(0, 1), default=0,
                        help="model.compile(jit_compile=...): XLA on tensorflow, torch.compile "
                             "on torch; jax always compiles")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="keras mixed-precision policy, or onednn_bfloat16: TensorFlow's "
                             "oneDNN bfloat16 graph rewrite with the loss in float32 "
                             "(keras_seg.backend.onednn_bfloat16; what train.py and predict "
                             "run by default on a CPU with native bfloat16)")
    parser.add_argument("--fold-batchnorm", type=int, choices=(0, 1), default=1,
                        help="infer and serve with BatchNormalization folded into the "
                             "convolutions, as predict and export do (default 1)")
    parser.add_argument("--intra-op", type=int, default=0, help="TF intra-op threads; 0 = TF's")
    parser.add_argument("--inter-op", type=int, default=0, help="TF inter-op threads; 0 = TF's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.jit_compile, args.loss_batch = bool(args.jit_compile), bool(args.loss_batch)
    if args.serve_steps is None:
        args.serve_steps = args.infer_steps
    args.option = dict(args.option)
    return args


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(measure(parse_args(argv))))


if __name__ == "__main__":
    main()
