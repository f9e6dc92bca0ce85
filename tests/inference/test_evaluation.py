"""keras_seg.evaluation: hand-computed cases and a brute-force reference for surface distances."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from keras_seg import evaluation

NAN = float("nan")


def disk(shape, centre, radius):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2


def brute_force_surface(pred, truth, spacing, tolerance):
    """Pairwise distances between the two surfaces' pixel coordinates (no distance transform)."""
    scale = np.asarray(spacing)
    a = np.argwhere(evaluation.surface(pred)) * scale
    b = np.argwhere(evaluation.surface(truth)) * scale
    d = cdist(a, b)
    d_ab, d_ba = d.min(1), d.min(0)
    both = np.concatenate([d_ab, d_ba])
    return {"hd95": max(np.percentile(d_ab, 95), np.percentile(d_ba, 95)),
            "assd": both.mean(), "nsd": np.mean(both <= tolerance), "hd": d_ab.max()}


def test_single_pixels_four_columns_apart():
    truth = np.zeros((1, 9, 12), bool)
    pred = truth.copy()
    truth[0, 5, 3] = pred[0, 5, 7] = True
    assert evaluation.surface_metrics(pred, truth) == {"hd95": 4.0, "assd": 4.0, "nsd": 0.0}
    assert evaluation.surface_metrics(pred, truth, tolerance=4.0)["nsd"] == 1.0
    # columns 0.5 mm apart: 2 mm
    assert evaluation.surface_metrics(pred, truth, spacing=(1, 1, 0.5))["hd95"] == 2.0


def test_distances_run_across_slices_with_the_slice_spacing():
    truth = np.zeros((3, 5, 5), bool)
    pred = truth.copy()
    truth[0, 2, 2] = pred[2, 2, 2] = True
    out = evaluation.surface_metrics(pred, truth, spacing=(3.0, 1.0, 1.0))
    assert out["hd95"] == 6.0 and out["assd"] == 6.0


def test_a_disk_against_the_same_disk_shifted_by_three_pixels():
    truth = disk((48, 48), (24, 20), 10)[None]
    pred = disk((48, 48), (24, 23), 10)[None]
    got = evaluation.surface_metrics(pred, truth, tolerance=1.0)
    expected = brute_force_surface(pred, truth, (1, 1, 1), 1.0)
    # A translation by 3 moves every surface pixel exactly 3: no surface pixel is farther.
    assert expected["hd"] == 3.0
    assert 1.0 < got["hd95"] <= 3.0 and got["hd95"] == pytest.approx(expected["hd95"])
    assert got["assd"] == pytest.approx(expected["assd"])
    assert 0 < got["nsd"] < 1 and got["nsd"] == pytest.approx(expected["nsd"])
    # in mm, with anisotropic pixels
    mm = evaluation.surface_metrics(pred, truth, spacing=(1.0, 0.8, 0.5), tolerance=1.0)
    expected = brute_force_surface(pred, truth, (1.0, 0.8, 0.5), 1.0)
    for key in ("hd95", "assd", "nsd"):
        assert mm[key] == pytest.approx(expected[key])


def test_identical_masks_are_perfect():
    mask = disk((20, 20), (10, 10), 5)[None]
    out = evaluation.volume_metrics(mask, mask)
    assert out == {"dsc": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0, "hd95": 0.0,
                   "assd": 0.0, "nsd": 1.0}


def test_half_overlap():
    truth = np.zeros((1, 4, 10), bool)
    pred = truth.copy()
    truth[0, 0, :] = True          # 10 pixels
    pred[0, 0, 5:] = True          # 5 of them
    pred[0, 3, 5:] = True          # and 5 elsewhere
    out = evaluation.overlap_metrics(pred, truth)
    assert out == {"dsc": 0.5, "iou": pytest.approx(1 / 3), "precision": 0.5, "recall": 0.5}


@pytest.mark.parametrize("pred_any, truth_any, expected", [
    (False, False, {"dsc": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0, "hd95": 0.0,
                    "assd": 0.0, "nsd": 1.0}),
    (True, False, {"dsc": 0.0, "iou": 0.0, "precision": 0.0, "recall": NAN, "hd95": NAN,
                   "assd": NAN, "nsd": 0.0}),
    (False, True, {"dsc": 0.0, "iou": 0.0, "precision": NAN, "recall": 0.0, "hd95": NAN,
                   "assd": NAN, "nsd": 0.0}),
])
def test_empty_cases(pred_any, truth_any, expected):
    pred = np.zeros((2, 8, 8), bool)
    truth = pred.copy()
    pred[1, 2:4, 2:4] = pred_any
    truth[0, 4:6, 4:6] = truth_any
    out = evaluation.volume_metrics(pred, truth)
    assert out.keys() == expected.keys()
    for key, value in expected.items():
        assert (math.isnan(out[key]) and math.isnan(value)) or out[key] == value, key


def test_valid_pixels_restrict_every_count():
    truth = np.zeros((1, 6, 6), bool)
    pred = truth.copy()
    truth[0, 1, 1] = pred[0, 1, 1] = True
    pred[0, 4, 4] = True                 # a false positive outside the valid region
    valid = np.ones_like(truth)
    valid[0, 3:, 3:] = False
    assert evaluation.volume_metrics(pred, truth, valid)["dsc"] == 1.0
    assert evaluation.volume_metrics(pred, truth)["dsc"] == pytest.approx(2 / 3)


def test_vessel_table_inside_the_field_of_view():
    prob = np.array([[0.9, 0.8, 0.3, 0.2, 0.99]])
    truth = np.array([[1, 0, 1, 0, 0]], bool)
    valid = np.array([[1, 1, 1, 1, 0]], bool)     # the last pixel is outside
    out = evaluation.vessel_metrics(prob, prob > 0.5, truth, valid)
    # positive/negative pairs ranked correctly: (0.9, 0.8) (0.9, 0.2) (0.3, 0.2) of 4
    assert out["auc"] == 0.75
    # tp 1 (0.9), fp 1 (0.8), fn 1 (0.3), tn 1 (0.2)
    assert out == {"auc": 0.75, "f1": 0.5, "accuracy": 0.5, "sensitivity": 0.5,
                   "specificity": 0.5}
    assert math.isnan(evaluation.vessel_metrics(prob, prob > 0.5, truth & False)["auc"])


def test_cell_metrics_of_a_cell_split_in_two():
    truth = np.array([[[1, 1, 1, 1, 1]]], bool)    # one cell of 5 pixels
    pred = np.array([[[1, 1, 0, 1, 1]]], bool)     # a membrane pixel splits it: 2 + 2 cells
    out = evaluation.cell_metrics(pred, truth)
    # Ordered pixel pairs in one segment: truth 5*4 = 20, prediction 2 + 2 = 4, both 4.
    # precision 4/4, recall 4/20, F = 2 * 0.2 / 1.2 = 1/3, error 2/3.
    assert out["rand_error"] == pytest.approx(2 / 3)
    # VI = H(truth | pred) + H(pred | truth) = 0 + H(2/5, 1/5, 2/5), in bits
    assert out["vi"] == pytest.approx(-(2 * 0.4 * math.log2(0.4) + 0.2 * math.log2(0.2)))
    same = evaluation.cell_metrics(truth, truth)
    assert same == {"rand_error": 0.0, "vi": 0.0}


def test_summaries_leave_nan_out():
    rows = [{"dsc": 1.0, "hd95": NAN}, {"dsc": 0.0, "hd95": 4.0}, {"dsc": 0.5, "hd95": 2.0}]
    out = evaluation.summarise(rows, ["dsc", "hd95"])
    assert out == {"count": 3, "mean": {"dsc": 0.5, "hd95": 3.0},
                   "median": {"dsc": 0.5, "hd95": 3.0}}
    assert evaluation.summarise(rows[:1], ["hd95"])["mean"]["hd95"] is None


def test_spacing_forms():
    assert evaluation.as_spacing(None) == (1.0, 1.0, 1.0)
    assert evaluation.as_spacing(0.5) == (0.5, 0.5, 0.5)
    assert evaluation.as_spacing([3, 1, 2]) == (3.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="spacing"):
        evaluation.as_spacing([1, 2])
