"""Connected-component post-processing and its choice on validation volumes."""

import json

import numpy as np
import pytest

from keras_seg.errors import UserError
from keras_seg.inference import postprocess as post
from keras_seg.inference.postprocess import Postprocess


def blob(shape, slices, rows, cols):
    mask = np.zeros(shape, bool)
    mask[slices, rows, cols] = True
    return mask


def test_components_connect_across_slices_by_faces():
    shape = (3, 10, 10)
    big = blob(shape, slice(0, 2), slice(1, 4), slice(1, 4))          # 18 voxels over 2 slices
    small = blob(shape, slice(2, 3), slice(6, 8), slice(6, 8))        # 4 voxels
    corner = blob(shape, slice(2, 3), slice(4, 5), slice(4, 5))       # touches big by an edge
    volume = big | small | corner
    np.testing.assert_array_equal(Postprocess("keep_largest").apply(volume), big)
    # the corner voxel is its own component (no shared face): removed below 2 voxels
    np.testing.assert_array_equal(Postprocess("remove_small", 2).apply(volume), big | small)
    np.testing.assert_array_equal(Postprocess("remove_small", 5).apply(volume), big)
    np.testing.assert_array_equal(Postprocess("remove_small", 19).apply(volume),
                                  np.zeros(shape, bool))
    # a face-neighbour in the next slice joins the big component
    bridge = blob(shape, slice(2, 3), slice(3, 4), slice(3, 4))
    assert Postprocess("keep_largest").apply(volume | bridge).sum() == 19


def test_slices_of_different_sizes_are_processed_one_by_one():
    slices = [np.zeros((4, 4), bool), np.zeros((6, 5), bool)]
    slices[0][0, 0] = True
    slices[1][1:3, 1:3] = True
    out = Postprocess("keep_largest").apply(slices)
    assert out[0].sum() == 1 and out[1].sum() == 4   # the largest of each slice


def volumes_with_a_spurious_blob():
    """Truth: one lesion per volume. Prediction: the lesion plus a false blob elsewhere."""
    shape = (4, 16, 16)
    truths = {f"v{i}": blob(shape, slice(1, 3), slice(4, 10), slice(4, 10)) for i in range(3)}
    preds = {v: t | blob(shape, slice(3, 4), slice(12, 14), slice(12, 14))
             for v, t in truths.items()}
    return preds, truths


def test_a_step_that_raises_the_validation_dsc_is_chosen():
    preds, truths = volumes_with_a_spurious_blob()
    record = post.choose(preds, truths)
    # 72 true voxels, 76 predicted: DSC 144 / 148 before, 1 after removing the 4-voxel blob
    assert record["baseline_dsc"] == pytest.approx(144 / 148)
    assert record["chosen"] == {"name": "keep_largest", "min_voxels": None}
    scores = {(c["name"], c["min_voxels"]): c["dsc"] for c in record["candidates"]}
    assert scores[("keep_largest", None)] == 1.0
    assert scores[("remove_small", 10)] == 1.0       # a tie: keep_largest comes first
    assert scores[("remove_small", 100)] == pytest.approx(0.0)


def test_no_step_is_chosen_when_none_raises_the_dsc():
    """The truth itself has a small second lesion that the prediction finds: every candidate
    removes it and lowers the DSC, so nothing is recorded."""
    two_lesions, _ = volumes_with_a_spurious_blob()
    record = post.choose(two_lesions, two_lesions)
    assert record["baseline_dsc"] == 1.0 and record["chosen"] is None
    assert all(c["dsc"] < 1.0 for c in record["candidates"])


def test_the_choice_round_trips_through_the_run_directory(tmp_path):
    assert post.load_choice(str(tmp_path)) is None
    preds, truths = volumes_with_a_spurious_blob()
    path = post.save_choice(str(tmp_path), post.choose(preds, truths))
    assert json.loads(open(path).read())["chosen"]["name"] == "keep_largest"
    assert post.load_choice(str(tmp_path)) == Postprocess("keep_largest")
    post.save_choice(str(tmp_path), post.choose(truths, truths))
    assert post.load_choice(str(tmp_path)) is None


def test_bad_steps_are_refused(tmp_path):
    with pytest.raises(UserError, match="unknown post-processing 'dilate'"):
        Postprocess("dilate")
    with pytest.raises(UserError, match="min_voxels"):
        Postprocess("remove_small")
    (tmp_path / "postprocess.json").write_text("{not json")
    with pytest.raises(UserError, match="postprocess.json"):
        post.load_choice(str(tmp_path))
