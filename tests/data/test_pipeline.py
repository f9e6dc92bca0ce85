"""The tf.data pipeline: epochs, seeds, validation order, weights, padding, patches."""

import numpy as np
import pytest

from keras_seg.data import SliceSet
from keras_seg.data.padding import unpad
from keras_seg.data.pipeline import foreground_positions, make_dataset, positive_slices
from keras_seg.errors import UserError


def _indexed(n=10, size=32, weights=False, patch_size=None, masks=True):
    """Slice i holds the value i in every image pixel; its mask is a block at row i."""
    images = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None],
                             (n, size, size, 2)).copy()
    mask = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        mask[i, i % size, :4] = 1
    w = np.ones((n, size, size, 1), np.float32) if weights else None
    if weights:
        w[:, :, -3:] = 0
    return SliceSet(images, mask if masks else None, np.arange(n).astype(str),
                    np.ones(n), weights=w, patch_size=patch_size)


def _epoch(ds):
    return [tuple(np.asarray(t) for t in batch) for batch in ds]


def test_each_slice_once_per_epoch_shuffled_and_reshuffled():
    data = _indexed(10)
    ds = make_dataset(data, 4, training=True, seed=1, augment=False)
    first, second = _epoch(ds), _epoch(ds)
    for epoch in (first, second):
        assert [len(b[0]) for b in epoch] == [4, 4, 2]
        order = np.concatenate([b[0][:, 0, 0, 0] for b in epoch]).astype(int)
        assert sorted(order) == list(range(10))
        for x, y in epoch:  # each image still comes with its own mask
            for image, mask in zip(x, y, strict=True):
                np.testing.assert_array_equal(mask, data.masks[int(image[0, 0, 0])])
    assert not np.array_equal(first[0][0], second[0][0])
    assert not np.array_equal(first[0][0][:, 0, 0, 0], np.arange(4))


def test_same_seed_same_stream_other_seed_differs():
    data = _indexed(12, size=32)
    runs = [_epoch(make_dataset(data, 4, training=True, seed=s)) for s in (7, 7, 8)]
    for a, b in zip(runs[0], runs[1], strict=True):
        for ta, tb in zip(a, b, strict=True):
            np.testing.assert_array_equal(ta, tb)
    assert not all(np.array_equal(a[0], c[0]) for a, c in zip(runs[0], runs[2], strict=True))


def test_validation_keeps_order_and_values():
    data = _indexed(10)
    batches = _epoch(make_dataset(data, 4, training=False))
    assert [len(b) for b in batches] == [2, 2, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), data.images)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), data.masks)
    assert batches[0][1].dtype == np.float32


def test_weights_make_triples_in_training_and_validation():
    data = _indexed(6, weights=True)
    for training in (True, False):
        batch = next(iter(make_dataset(data, 3, training=training, augment=False)))
        assert len(batch) == 3 and batch[2].shape == (3, 32, 32, 1)
        assert np.asarray(batch[2])[:, :, -3:].sum() == 0


def test_whole_images_are_padded_to_the_stride_with_zero_weight():
    data = _indexed(3, size=20)
    x, y, w = _epoch(make_dataset(data, 3, training=False, pad_multiple=16))[0]
    assert x.shape == (3, 32, 32, 2) and w.shape == (3, 32, 32, 1)
    assert w[:, :20, :20].all() and w.sum() == 3 * 20 * 20
    np.testing.assert_array_equal(unpad(x, 20, 20), data.images)
    np.testing.assert_array_equal(unpad(y, 20, 20), data.masks)


def test_patches_shapes_counts_and_whole_image_validation():
    data = _indexed(3, size=40, patch_size=16, weights=True)
    train = _epoch(make_dataset(data, 4, training=True, seed=0))
    assert sum(len(b[0]) for b in train) == 3 * round(40 * 40 / 16 ** 2)  # 6 per image
    assert all(b[0].shape[1:] == (16, 16, 2) and len(b) == 3 for b in train)
    val = _epoch(make_dataset(data, 4, training=False))
    # Whole images padded to 64x64; a batch holds no more pixels than a training batch.
    assert [b[0].shape for b in val] == [(1, 64, 64, 2)] * 3
    np.testing.assert_array_equal(val[1][2][0, 40:], 0)


@pytest.mark.parametrize("fraction", [1.0, 0.0])
def test_foreground_oversampling(fraction):
    n, size = 4, 64
    images = np.zeros((n, size, size, 1), np.float32)
    masks = np.zeros((n, size, size, 1), np.uint8)
    masks[:, 50:54, 6:10] = 1  # a small object: 0.4 % of each image
    data = SliceSet(images, masks, np.arange(n).astype(str), np.ones(n), patch_size=16)
    batches = _epoch(make_dataset(data, 8, training=True, seed=0, augment=False,
                                  foreground_fraction=fraction, patches_per_image=20))
    with_fg = np.mean([y.any() for b in batches for y in b[1]])
    if fraction == 1.0:
        assert with_fg == 1.0
    else:
        assert with_fg < 0.3  # a uniform patch holds the object about 1 time in 10


def _tumour_set(n=40, positives=(3, 11, 25, 30)):
    """Slice i holds the value i; only the slices in ``positives`` have foreground."""
    data = _indexed(n)
    data.masks[:] = 0
    for i in positives:
        data.masks[i, 5, 5] = 1
    return data


def _drawn(ds):
    return np.concatenate([b[0][:, 0, 0, 0] for b in ds]).astype(int)


def test_positive_slices_by_hand_and_weight_zero_foreground_does_not_count():
    data = _tumour_set(6, positives=(1, 4))
    np.testing.assert_array_equal(positive_slices(data.masks),
                                  [False, True, False, False, True, False])
    w = np.ones_like(data.masks, np.float32)
    w[4, 5, 5] = 0  # slice 4's only foreground pixel is ignored
    np.testing.assert_array_equal(positive_slices(data.masks, w),
                                  [False, True, False, False, False, False])


def test_positive_fraction_oversamples_tumour_slices_and_keeps_the_epoch_length():
    data = _tumour_set()
    ds = make_dataset(data, 8, training=True, seed=3, augment=False, positive_fraction=0.5)
    assert int(ds.cardinality()) == 5  # a known length: progress bars and the LR finder
    epochs = [_drawn(ds) for _ in range(25)]
    assert {len(e) for e in epochs} == {40}  # 5 batches of 8, as without oversampling
    drawn = np.concatenate(epochs)
    share = np.isin(drawn, (3, 11, 25, 30)).mean()
    # 1000 draws with p = 0.5: sd 0.016 (the natural share is 4/40 = 0.1).
    assert 0.44 < share < 0.56
    # Within an epoch each group's slices come in turn (all drawn before one repeats), so
    # their counts in that epoch differ by at most 1: no slice is drawn 3 times while another
    # of its group is left out.
    for epoch in epochs:
        for group in (np.array([3, 11, 25, 30]), np.setdiff1d(np.arange(40), [3, 11, 25, 30])):
            counts = np.bincount(epoch, minlength=40)[group]
            assert counts.max() - counts.min() <= 1
    for x, y in ds:  # each image keeps its own mask
        for image, mask in zip(x, y, strict=True):
            np.testing.assert_array_equal(mask, data.masks[int(image[0, 0, 0])])
    assert not np.array_equal(epochs[0], epochs[1])  # redrawn each epoch


@pytest.mark.parametrize("fraction, allowed", [(1.0, (3, 11, 25, 30)), (0.0, None)])
def test_positive_fraction_extremes(fraction, allowed):
    drawn = _drawn(make_dataset(_tumour_set(), 8, training=True, seed=0, augment=False,
                                positive_fraction=fraction))
    assert len(drawn) == 40
    if allowed:
        assert set(drawn) == set(allowed)
    else:
        assert not set(drawn) & {3, 11, 25, 30} and len(set(drawn)) == 36


def test_positive_fraction_same_seed_same_stream_and_no_effect_without_both_groups():
    data = _tumour_set()
    a, b = (_drawn(make_dataset(data, 8, training=True, seed=5, augment=False,
                                positive_fraction=0.3)) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    empty = _tumour_set(positives=())  # no foreground anywhere: a plain shuffle of all slices
    drawn = _drawn(make_dataset(empty, 8, training=True, seed=5, augment=False,
                                positive_fraction=0.9))
    assert sorted(drawn) == list(range(40))


def test_foreground_positions_by_hand():
    masks = np.zeros((3, 2, 3, 1), np.uint8)
    masks[0, 0, 1] = masks[0, 1, 2] = masks[2, 1, 0] = 1
    positions, start, count = foreground_positions(masks)
    assert count.tolist() == [2, 0, 1] and start.tolist() == [0, 2, 2]
    assert positions[:3].tolist() == [1, 5, 3]
    capped = foreground_positions(np.ones((1, 10, 10, 1), np.uint8), limit=7, seed=0)
    assert capped[2].tolist() == [7] and len(set(capped[0][:7].tolist())) == 7


def test_unlabelled_data_evaluates_to_images_only_and_cannot_train():
    data = _indexed(4, masks=False)
    batch = next(iter(make_dataset(data, 4, training=False)))
    np.testing.assert_array_equal(batch, data.images)
    with pytest.raises(UserError, match="no masks"):
        make_dataset(data, 4, training=True)


@pytest.mark.parametrize("patch_size", [None, 16])
def test_image_only_augmentations_keep_masks_weights_and_shapes(patch_size):
    n, size = 10, 24
    rng = np.random.default_rng(0)
    images = rng.normal(size=(n, size, size, 3)).astype(np.float32)
    masks = (images[..., :1] > 1).astype(np.uint8)
    weights = rng.random((n, size, size, 1)).astype(np.float32)
    data = SliceSet(images, masks, np.arange(n).astype(str), np.ones(n), weights=weights,
                    patch_size=patch_size)
    image_only = {"flip": False, "rotation": 0, "scale": 0, "brightness": 0, "contrast": 0,
                  "missing_sequence": 1.0, "missing_sequence_source": 1, "noise": 1.0,
                  "blur": 1.0, "multiplicative_brightness": 1.0, "low_resolution": 1.0,
                  "inverted_gamma": 1.0, "gamma": 1.0}
    off, on = (_epoch(make_dataset(data, 4, training=True, seed=1, augment=cfg))
               for cfg in (False, image_only))
    side = patch_size or 32  # whole images are padded to the stride
    for (x0, y0, w0), (x1, y1, w1) in zip(off, on, strict=True):
        assert x1.shape == x0.shape == (len(x0), side, side, 3) and np.isfinite(x1).all()
        np.testing.assert_array_equal(y1, y0)
        np.testing.assert_array_equal(w1, w0)
        assert not (x1 == x0).all(axis=(1, 2, 3)).any()  # noise on every slice


MEMORY_PROBE = """
import os, resource, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from keras_seg.data.pipeline import make_dataset
from keras_seg.data.sliceset import SliceSet, aligned_empty
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
n = 800  # 800 x 128 x 128 x 3 float32: 150 MB
images = aligned_empty((n, 128, 128, 3), np.float32)
images[:] = 0.5
masks = aligned_empty((n, 128, 128, 1), np.uint8)
masks[:] = 0
masks[:, 40:60, 40:60] = 1
data = SliceSet(images, masks, [f"v{i // 8}" for i in range(n)], [i % 8 + 1 for i in range(n)])
before = peak()
ds = make_dataset(data, 16, training=True, seed=0, augment=True)
for _ in range(3):  # three epochs: three iterators
    next(iter(ds))
print(json.dumps({"set_mb": images.nbytes / 2**20, "growth_mb": peak() - before}))
"""


def test_in_memory_set_is_not_copied_by_the_pipeline():
    """Neither the tensors the pipeline gathers from nor a new iterator copy the data set."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True,
                          timeout=300, check=True)
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    # a copy of the set would add 150 MB at least (tf.constant, and each iterator's graph
    # rewrite, did); what remains is batches, prefetch buffers and the traced functions
    assert probe["growth_mb"] < 0.5 * probe["set_mb"], probe
