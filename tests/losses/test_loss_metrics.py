"""dice_coef, iou and the stateful MeanIoU."""

import keras
import numpy as np
import pytest

from keras_seg import losses


def square(rows, cols):
    m = np.zeros((1, 8, 8, 1), "float32")
    m[0, rows, cols] = 1.0
    return m


CASES = {  # (truth, prediction, dice_coef, iou); 4x4 squares, smoothing 1 in dice_coef
    "perfect": (square(slice(2, 6), slice(2, 6)), square(slice(2, 6), slice(2, 6)), 1.0, 1.0),
    "empty": (np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)), 1.0, 1.0),
    "disjoint": (square(slice(0, 4), slice(0, 4)), square(slice(4, 8), slice(4, 8)), 1 / 33, 0.0),
    "half_overlap": (square(slice(0, 4), slice(0, 4)), square(slice(0, 4), slice(2, 6)),
                     17 / 33, 8 / 24),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dice_coef_and_iou_hand_values(case):
    y, p, dice, iou = CASES[case]
    np.testing.assert_allclose(losses.dice_coef(y, p), [dice], rtol=1e-6)
    np.testing.assert_allclose(losses.iou(y, p), [iou], rtol=1e-6)
    np.testing.assert_allclose(losses.iou(y[..., 0], p), [iou], rtol=1e-6)
    metric = losses.MeanIoU()
    metric.update_state(y, p)
    np.testing.assert_allclose(metric.result(), iou, rtol=1e-6)


def test_dice_coef_is_per_image():
    y = np.concatenate([CASES["perfect"][0], CASES["disjoint"][0]])
    p = np.concatenate([CASES["perfect"][1], CASES["disjoint"][1]])
    np.testing.assert_allclose(losses.dice_coef(y, p), [1.0, 1 / 33], rtol=1e-6)


def test_mean_iou_averages_thresholds():
    # p = 0.97 and 0.62 on two foreground pixels: both above t <= 0.6 (3 thresholds, IoU 1),
    # only the first above 0.65 ... 0.95 (7 thresholds, IoU 1/2)
    y = np.array([[[[1.0], [1.0]]]])
    p = np.array([[[[0.97], [0.62]]]], "float32")
    metric = losses.MeanIoU()
    metric.update_state(y, p)
    np.testing.assert_allclose(metric.result(), (3 * 1.0 + 7 * 0.5) / 10, rtol=1e-6)


def np_pooled_mean_iou(y, p, thresholds):
    scores = []
    for t in thresholds:
        q = p > t
        union = np.logical_or(q, y).sum()
        scores.append(np.logical_and(q, y).sum() / union if union else 1.0)
    return np.mean(scores)


def test_mean_iou_accumulates_sums_across_batches():
    rng = np.random.default_rng(0)
    y = (rng.random((6, 8, 8, 1)) > 0.7).astype("float32")
    y[:2] = 0  # a first batch with no foreground
    p = np.clip(y * 0.5 + rng.random(y.shape) * 0.6, 0, 1).astype("float32")
    metric = losses.MeanIoU()
    batch_scores = []
    for start in (0, 2, 4):
        single = losses.MeanIoU()
        single.update_state(y[start:start + 2], p[start:start + 2])
        batch_scores.append(float(single.result()))
        metric.update_state(y[start:start + 2], p[start:start + 2])
    expected = np_pooled_mean_iou(y > 0, p, losses.metrics.DEFAULT_THRESHOLDS)
    np.testing.assert_allclose(metric.result(), expected, rtol=1e-6)
    assert not np.isclose(np.mean(batch_scores), expected)
    metric.reset_state()
    metric.update_state(y[4:], p[4:])
    np.testing.assert_allclose(metric.result(), batch_scores[2], rtol=1e-6)


def test_mean_iou_sample_weight_and_logits():
    y = np.concatenate([CASES["perfect"][0], CASES["disjoint"][0]])
    p = np.concatenate([CASES["perfect"][1], CASES["disjoint"][1]])
    metric = losses.MeanIoU()
    metric.update_state(y, p, sample_weight=np.array([1.0, 0.0]))
    np.testing.assert_allclose(metric.result(), 1.0)
    logits = losses.MeanIoU(from_logits=True)
    logits.update_state(y, (2 * p - 1) * 5)
    plain = losses.MeanIoU()
    plain.update_state(y, p)
    np.testing.assert_allclose(logits.result(), plain.result())


def test_mean_iou_config_round_trip():
    metric = losses.MeanIoU(thresholds=[0.3, 0.5], name="iou2")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(restored) is losses.MeanIoU
    assert restored.thresholds == (0.3, 0.5) and restored.name == "iou2"
