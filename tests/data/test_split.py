"""Volume-wise splits: no volume on both sides, seeded, counts or fractions, k folds."""

import numpy as np
import pytest

from keras_seg.data import SliceSet, dataset_defaults, kfold_volumes, split_by_volume
from keras_seg.errors import UserError


def _data(volumes=10, slices=3):
    n = volumes * slices
    return SliceSet(images=np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1),
                    masks=np.zeros((n, 1, 1, 1), np.uint8),
                    volume_ids=np.repeat([f"v{i}" for i in range(volumes)], slices),
                    slice_index=np.tile(np.arange(1, slices + 1), volumes))


@pytest.mark.parametrize("val, seed", [(3, 0), (3, 1), (0.2, 42), (0.5, 7), (1, 3)])
def test_no_volume_on_both_sides_and_nothing_lost(val, seed):
    data = _data()
    train, val_set = split_by_volume(data, val, seed)
    assert not set(train.volumes) & set(val_set.volumes)
    assert len(train) + len(val_set) == len(data)
    expected = val if isinstance(val, int) else round(val * 10)
    assert len(val_set.volumes) == expected
    for part in (train, val_set):  # whole volumes, slices in their order
        for v in part.volumes:
            assert part.slice_index[part.volume_ids == v].tolist() == [1, 2, 3]


def test_same_seed_same_split_whatever_the_order():
    data = _data()
    a = split_by_volume(data, 3, 5)[1].volumes
    shuffled = data.subset(np.random.default_rng(0).permutation(len(data)))
    assert sorted(split_by_volume(shuffled, 3, 5)[1].volumes) == sorted(a)
    assert any(split_by_volume(data, 3, s)[1].volumes != a for s in range(6, 10))


def test_explicit_volume_list():
    train, val = split_by_volume(_data(), ["v2", "v7"], 0)
    assert val.volumes == ["v2", "v7"] and len(train.volumes) == 8
    with pytest.raises(UserError, match="'v99' is not in the data"):
        split_by_volume(_data(), ["v99"], 0)


@pytest.mark.parametrize("val", [0, 10, 11])
def test_a_split_must_leave_volumes_on_both_sides(val):
    with pytest.raises(UserError, match="at least one volume on each side"):
        split_by_volume(_data(), val, 0)


@pytest.mark.parametrize("volumes, fraction, expected_val", [
    (2, 0.2, 1), (3, 0.2, 1), (2, 0.9, 1), (3, 0.9, 2), (10, 0.01, 1), (10, 0.99, 9),
    (10, 0.2, 2), (10, 0.25, 2), (24, 0.2, 5),
])
def test_a_fraction_keeps_at_least_one_volume_on_each_side(volumes, fraction, expected_val):
    train, val = split_by_volume(_data(volumes), fraction, 0)
    assert (len(train.volumes), len(val.volumes)) == (volumes - expected_val, expected_val)


def test_the_default_fraction_splits_2_and_3_volume_sets():
    fraction = dataset_defaults("folder")["data"]["val_volumes"]
    for volumes, expected in ((2, (1, 1)), (3, (2, 1))):
        train, val = split_by_volume(_data(volumes), fraction, 0)
        assert (len(train.volumes), len(val.volumes)) == expected


@pytest.mark.parametrize("val, message", [
    (1.5, "count >= 1 or a fraction"), (float("nan"), "count >= 1 or a fraction"),
    (-0.5, "count >= 1 or a fraction"),
])
def test_bad_fractions(val, message):
    with pytest.raises(UserError, match=message):
        split_by_volume(_data(), val, 0)
    with pytest.raises(UserError, match="at least 2 volumes"):
        split_by_volume(_data(1), 0.5, 0)


def test_kfold_partitions_the_volumes():
    volumes = [f"v{i}" for i in range(10)]
    folds = [kfold_volumes(volumes, 3, f, seed=1) for f in range(3)]
    assert sorted(len(f) for f in folds) == [3, 3, 4]
    assert sorted(sum(folds, [])) == sorted(volumes)
    assert kfold_volumes(volumes[::-1], 3, 0, seed=1) == folds[0]  # order-free, seeded
    assert [kfold_volumes(volumes, 3, f, seed=2) for f in range(3)] != folds
    train, val = split_by_volume(_data(), folds[1], 0)
    assert val.volumes == folds[1] and not set(train.volumes) & set(folds[1])


@pytest.mark.parametrize("k, fold", [(1, 0), (11, 0), (3, 3), (3, -1)])
def test_kfold_bad_arguments(k, fold):
    with pytest.raises(UserError):
        kfold_volumes([f"v{i}" for i in range(10)], k, fold, 0)
