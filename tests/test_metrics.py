"""Per-volume DSC on hand-computed cases."""

import numpy as np
import pytest

from keras_seg.metrics import mean_per_volume_dsc, per_volume_dsc


def _slices(*pixels_lists, size=4):
    """Slices of size x size with the given flat pixel indices set to 1."""
    out = np.zeros((len(pixels_lists), size, size, 1), np.float32)
    for i, pixels in enumerate(pixels_lists):
        out[i].reshape(-1)[list(pixels)] = 1.0
    return out


@pytest.mark.parametrize("truth, pred, expected", [
    # perfect
    ([[0, 1, 2], [5]], [[0, 1, 2], [5]], 1.0),
    # disjoint
    ([[0, 1]], [[2, 3]], 0.0),
    # partial: I=2, P=3, T=4 over the two slices pooled -> 4/7
    ([[0, 1], [4, 5]], [[0, 1, 2], []], 4 / 7),
    # empty truth, empty prediction: perfect by policy
    ([[], []], [[], []], 1.0),
    # empty truth with false positives: zero
    ([[], []], [[3], []], 0.0),
])
def test_single_volume_cases(truth, pred, expected):
    t, p = _slices(*truth), _slices(*pred)
    scores = per_volume_dsc(p, t, ["a"] * len(t))
    assert scores == pytest.approx({"a": expected})


def test_volumes_pool_their_slices_then_average():
    # volume a: slice1 I=1,P=1,T=2 ; slice2 I=0,P=0,T=0 -> 2/3 ; volume b: disjoint -> 0
    truth = _slices([0, 1], [], [7])
    pred = _slices([0], [], [8])
    ids = ["a", "a", "b"]
    assert per_volume_dsc(pred, truth, ids) == pytest.approx({"a": 2 / 3, "b": 0.0})
    assert mean_per_volume_dsc(pred, truth, ids) == pytest.approx(1 / 3)
    # Per-slice averaging would give (2/3 + 1 + 0) / 3 = 5/9 for the same data: pooled differs.


def test_threshold_and_weights():
    truth = _slices([0, 1])
    probs = _slices([0, 1, 2]) * 0.7  # three pixels at 0.7
    assert per_volume_dsc(probs, truth, ["a"])["a"] == pytest.approx(4 / 5)
    assert per_volume_dsc(probs, truth, ["a"], threshold=0.8)["a"] == 0.0
    weights = np.ones_like(truth)
    weights.reshape(-1)[2] = 0  # ignore the false positive
    assert per_volume_dsc(probs, truth, ["a"], weights=weights)["a"] == pytest.approx(1.0)
