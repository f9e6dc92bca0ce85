"""The shared tf.data pipeline: in-memory slices -> augmented, batched tensors."""

from __future__ import annotations

import tensorflow as tf

from keras_seg.data.sliceset import SliceSet


def _flip(image, mask, seed):
    """Horizontal flip with probability 0.5, identical for image and mask."""
    flip = tf.random.stateless_uniform([], seed=seed) < 0.5
    return (tf.where(flip, tf.reverse(image, [1]), image),
            tf.where(flip, tf.reverse(mask, [1]), mask))


def make_dataset(data: SliceSet, batch_size: int, *, training: bool, seed: int = 0,
                 augment: bool = True, num_outputs: int = 1) -> tf.data.Dataset:
    """Build the input pipeline for ``data``.

    Args:
        data: the slices; must have masks.
        batch_size: batch size.
        training: shuffle each epoch and augment; otherwise keep the slice order.
        seed: seed of the shuffle and of every random transform.
        augment: apply augmentation when training.
        num_outputs: the model's output count (deep supervision): the target is repeated.

    Returns:
        A dataset of ``(image float32 (B,H,W,C), mask float32 (B,H,W,1))`` batches.
    """
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.masks))
    if training:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.float32)),
                num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment:
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed).batch(2))).map(
            lambda xy, s: _flip(xy[0], xy[1], s), num_parallel_calls=tf.data.AUTOTUNE)
    if num_outputs > 1:
        ds = ds.map(lambda x, y: (x, (y,) * num_outputs))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
