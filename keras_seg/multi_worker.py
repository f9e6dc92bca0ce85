"""``model.fit`` under ``tf.distribute.MultiWorkerMirroredStrategy`` (keras-team/keras#20585).

Keras 3's TensorFlow trainer fails across workers in two places: before the first epoch it
all-reduces the first data batch to build the model state symbolically, and it reduces the
scalar step logs along ``axis=0``. :class:`MultiWorkerModel` is the functional model rebuilt
on the same layers with both fixed: the state is built from one local batch
(:meth:`MultiWorkerModel.build_state`, called inside the strategy scope before ``fit``), the
trainer's own symbolic build is skipped, and the step logs are 1-element vectors.

Verified with Keras 3.5 to 3.15 (``pyproject.toml`` bounds Keras below 3.16); check the issue
before widening the bound: the workaround goes away once Keras fixes it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

VERIFIED_KERAS = ((3, 5), (3, 15))


def _version() -> tuple[int, int]:
    major, minor = keras.__version__.split(".")[:2]
    return int(major), int(minor)


class MultiWorkerModel(keras.Model):
    """A functional model whose ``fit`` runs under MultiWorkerMirroredStrategy.

    Build it with :meth:`wrap` from a functional model: the layers (and so the weights) and the
    compile state (optimizer included) are shared. :meth:`save` writes the plain functional
    model, so the files of a multi-worker run load anywhere without this class.
    """

    @classmethod
    def wrap(cls, model: keras.Model) -> MultiWorkerModel:
        low, high = VERIFIED_KERAS
        if not low <= _version() <= high:
            raise RuntimeError(
                f"keras_seg's multi-worker workaround is verified for Keras "
                f"{'.'.join(map(str, low))}-{'.'.join(map(str, high))}, not {keras.__version__}")
        wrapped = cls(inputs=model.inputs, outputs=model.outputs, name=model.name)
        _compile_like(wrapped, model)
        return wrapped

    def save(self, filepath, overwrite=True, **kwargs):
        """Save the plain functional model (same layers, same optimizer)."""
        plain = keras.Model(self.inputs, self.outputs, name=self.name)
        _compile_like(plain, self)
        plain.save(filepath, overwrite=overwrite, **kwargs)

    def build_state(self, dataset: tf.data.Dataset) -> None:
        """Build the model, loss and optimizer state from one local batch of ``dataset``."""
        self._symbolic_build(data_batch=next(iter(dataset)))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Skipped: :meth:`build_state` built everything from a local batch."""

    def train_step(self, data):
        return {k: tf.reshape(v, [1]) for k, v in super().train_step(data).items()}

    def test_step(self, data):
        return {k: tf.reshape(v, [1]) for k, v in super().test_step(data).items()}


def _compile_like(target: keras.Model, source: keras.Model) -> None:
    """Compile ``target`` with ``source``'s optimizer object (its state shared) and loss."""
    if source.compiled:
        config = source.get_compile_config()
        target.compile(optimizer=source.optimizer, loss=source.loss,
                       loss_weights=config.get("loss_weights"), jit_compile=False)
