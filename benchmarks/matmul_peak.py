"""Measured matrix-multiply peak of this machine in GFLOP/s, as one JSON line.

Times square ``n x n`` matrix products (``2 n^3`` FLOPs each) with TensorFlow (float32, and
bfloat16 inputs) and NumPy (float32), after one untimed product; the best of ``--repeats``
timings is the peak. ``--intra-op 1`` pins TensorFlow to one thread: the per-core peak, which a
loaded, shared machine disturbs far less than the all-core one (NumPy keeps its own threads).
The share of this peak that training reaches (``throughput.py``'s ``train_gflop_per_s``, or
``train_gflop_per_cpu_s`` against the per-core peak) says how much of the machine training uses.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def best_gflop_per_s(matmul, n: int, repeats: int) -> float:
    """GFLOP/s of the fastest of ``repeats`` calls of ``matmul()`` (one ``n x n`` product)."""
    matmul()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def measure(n: int, repeats: int, intra_op: int = 0) -> dict:
    """Peak GFLOP/s of TF float32, TF bfloat16 and NumPy float32 ``n x n`` products.

    ``intra_op``: TensorFlow's intra-op thread count; 0 keeps TensorFlow's default (all cores).
    """
    if intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    ta, tb = tf.constant(a), tf.constant(b)
    ha, hb = tf.cast(ta, tf.bfloat16), tf.cast(tb, tf.bfloat16)
    return {
        "tf_float32_gflop_per_s": round(best_gflop_per_s(
            lambda: tf.linalg.matmul(ta, tb).numpy(), n, repeats), 1),
        "tf_bfloat16_gflop_per_s": round(best_gflop_per_s(
            lambda: tf.linalg.matmul(ha, hb).numpy(), n, repeats), 1),
        "numpy_float32_gflop_per_s": round(best_gflop_per_s(lambda: a @ b, n, repeats), 1),
        "settings": {"n": n, "repeats": repeats, "tf_intra_op": intra_op or "default",
                     "cpu_count": os.cpu_count(),
                     "tensorflow": tf.__version__, "numpy": np.__version__,
                     "load_avg_1m": round(os.getloadavg()[0], 2)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048, help="matrix side")
    parser.add_argument("--repeats", type=int, default=20, help="timed products per library")
    parser.add_argument("--intra-op", type=int, default=0,
                        help="TensorFlow threads; 1 = per-core peak, 0 = TensorFlow's default")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.n, args.repeats, args.intra_op)))


if __name__ == "__main__":
    main()
