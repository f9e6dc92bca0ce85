"""Every loss against values computed by hand and against an independent numpy implementation."""

import numpy as np
import pytest

from keras_seg import losses
from keras_seg.losses.weighted import border_window

EPS = 1e-7


# ---- numpy reference, float64, written from the formulas in docs/losses.md ----

def _sum(x, batch=False):
    s = x.reshape(len(x), -1).sum(axis=1)
    return np.full_like(s, s.sum()) if batch else s


def _mean(x):
    return x.reshape(len(x), -1).mean(axis=1)


def _clip(p):
    """Clip as the losses do, to the float32 numbers nearest 1e-7 and 1 - 1e-7."""
    return np.clip(p, float(np.float32(EPS)), float(np.float32(1 - EPS)))


def np_dice_coef(y, p, batch=False, w=None, s=1.0):
    w = np.ones_like(y) if w is None else w
    return (2 * _sum(w * p * y, batch) + s) / (_sum(w * p, batch) + _sum(w * y, batch) + s)


def np_bce_map(y, p):
    q = _clip(p)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


def np_focal(y, p, gamma, alpha):
    q = _clip(p)
    p_t = np.where(y == 1, q, 1 - q)
    alpha_t = 1.0 if alpha is None else np.where(y == 1, alpha, 1 - alpha)
    return _mean(-alpha_t * (1 - p_t) ** gamma * np.log(p_t))


def np_box_mean(image, k):
    """Mean over a k x k window, 'same' size, padding excluded from the count."""
    r = k // 2

    def box(a):
        c = np.pad(np.pad(a, r).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]

    return box(image) / box(np.ones_like(image))


def np_border_weights(y, k=None):
    k = border_window(*y.shape[1:3]) if k is None else k
    w = np.stack([5 * np.exp(-5 * np.abs(np_box_mean(img[..., 0], k) - 0.5)) for img in y])
    w = w[..., None]
    return w / w.reshape(len(w), -1).mean(axis=1)[:, None, None, None]


def np_tversky_index(y, p, batch, a=0.3, b=0.7, s=1.0):
    tp, fp, fn = _sum(p * y, batch), _sum(p * (1 - y), batch), _sum((1 - p) * y, batch)
    return (tp + s) / (tp + a * fp + b * fn + s)


def np_lovasz(y, logits):
    out = []
    for labels, x in zip(y.reshape(len(y), -1), logits.reshape(len(y), -1), strict=True):
        errors = 1 - x * (2 * labels - 1)
        order = np.argsort(-errors, kind="stable")
        e, g = errors[order], labels[order]
        jaccard = [1 - (g.sum() - g[: i + 1].sum()) / (g.sum() + (1 - g[: i + 1]).sum())
                   for i in range(len(g))]
        grad = np.diff(np.concatenate([[0.0], jaccard]))
        out.append(np.dot(np.maximum(e, 0), grad))
    return np.array(out)


def np_weighted_bce(y, p):
    w = np_border_weights(y)
    return _sum(w * np_bce_map(y, p)) / _sum(w)


REFERENCE = {
    "bce": lambda y, p, batch: _mean(np_bce_map(y, p)),
    "dice": lambda y, p, batch: 1 - np_dice_coef(y, p, batch),
    "log_dice": lambda y, p, batch: -np.log(np_dice_coef(y, p, batch)),
    "bce_dice": lambda y, p, batch: 0.5 * _mean(np_bce_map(y, p))
    + 0.5 * (1 - np_dice_coef(y, p, batch)),
    "bce_logdice": lambda y, p, batch: _mean(np_bce_map(y, p)) - np.log(np_dice_coef(y, p, batch)),
    "focal": lambda y, p, batch: np_focal(y, p, 2.0, 0.25),
    "focal_dice": lambda y, p, batch: 10 * np_focal(y, p, 2.0, None)
    - np.log(np_dice_coef(y, p, batch)),
    "weighted_dice": lambda y, p, batch: 1 - np_dice_coef(y, p, batch, np_border_weights(y)),
    "weighted_bce": lambda y, p, batch: np_weighted_bce(y, p),
    "weighted_bce_dice": lambda y, p, batch: np_weighted_bce(y, p)
    + 1 - np_dice_coef(y, p, batch, np_border_weights(y)),
    "soft_iou": lambda y, p, batch: 1 - (_sum(p * y, batch) + 1)
    / (_sum(p, batch) + _sum(y, batch) - _sum(p * y, batch) + 1),
    "tversky": lambda y, p, batch: 1 - np_tversky_index(y, p, batch),
    "focal_tversky": lambda y, p, batch: np.maximum(1 - np_tversky_index(y, p, batch), EPS)
    ** 0.75,
    "lovasz_hinge": lambda y, p, batch: np_lovasz(y, np.log(_clip(p)) - np.log1p(-_clip(p))),
}
BINARY = tuple(name for name in losses.NAMES if name != "dice_ce")
DICE_TYPE = ("dice", "log_dice", "bce_dice", "bce_logdice", "focal_dice", "weighted_dice",
             "weighted_bce_dice", "soft_iou", "tversky", "focal_tversky")


def square(rows, cols, size=8):
    m = np.zeros((size, size, 1))
    m[rows, cols] = 1.0
    return m


# (truth, prediction) of one 8x8 image each: a 4x4 square, moved.
CASES = {
    "perfect": (square(slice(2, 6), slice(2, 6)), square(slice(2, 6), slice(2, 6))),
    "empty": (np.zeros((8, 8, 1)), np.zeros((8, 8, 1))),
    "disjoint": (square(slice(0, 4), slice(0, 4)), square(slice(4, 8), slice(4, 8))),
    "half_overlap": (square(slice(0, 4), slice(0, 4)), square(slice(0, 4), slice(2, 6))),
}


def batch_of_cases():
    """All four cases in one batch, plus a soft prediction, shapes (5, 8, 8, 1)."""
    rng = np.random.default_rng(0)
    soft_truth = square(slice(1, 5), slice(3, 7))
    soft_pred = np.clip(soft_truth * 0.6 + rng.random((8, 8, 1)) * 0.4, 0, 1)
    y = np.stack([t for t, _ in CASES.values()] + [soft_truth])
    p = np.stack([q for _, q in CASES.values()] + [soft_pred])
    return y, p


def call(name, y, p, **kwargs):
    fn = getattr(losses, name)
    return np.asarray(fn(y.astype("float32"), p.astype("float32"), **kwargs))


@pytest.mark.parametrize(
    ("name", "batch"), [(n, False) for n in BINARY] + [(n, True) for n in DICE_TYPE]
)
def test_matches_numpy_reference(name, batch):
    y, p = batch_of_cases()
    kwargs = {"batch": batch} if name in DICE_TYPE else {}
    expected = REFERENCE[name](y, p, batch)
    np.testing.assert_allclose(call(name, y, p, **kwargs), expected, rtol=2e-5, atol=2e-6)


S = 1.0  # smoothing; I = intersection, Y = |truth| = 16, P = |prediction| = 16
HAND = {
    # name: {case: value}
    "dice": {"perfect": 0.0, "empty": 0.0, "disjoint": 1 - S / 33, "half_overlap": 1 - 17 / 33},
    "log_dice": {"perfect": 0.0, "empty": 0.0, "disjoint": np.log(33),
                 "half_overlap": -np.log(17 / 33)},
    "soft_iou": {"perfect": 0.0, "empty": 0.0, "disjoint": 1 - 1 / 33, "half_overlap": 1 - 9 / 25},
    # TP=8, FP=8, FN=8 (half); TP=0, FP=16, FN=16 (disjoint); alpha=0.3 on FP, beta=0.7 on FN
    "tversky": {"perfect": 0.0, "empty": 0.0, "disjoint": 1 - 1 / 17, "half_overlap": 1 - 9 / 17},
    "focal_tversky": {"perfect": EPS**0.75, "empty": EPS**0.75, "disjoint": (16 / 17) ** 0.75,
                      "half_overlap": (8 / 17) ** 0.75},
    # hard predictions with |logit| = 1 on correct pixels and 0 on wrong ones: 1 - IoU
    "lovasz_hinge": {"perfect": 0.0, "empty": 0.0, "disjoint": 1.0, "half_overlap": 1 - 8 / 24},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", list(HAND))
def test_hand_values(name, case):
    y, p = (a[None] for a in CASES[case])
    if name == "lovasz_hinge":
        logits = np.where(p == y, 2 * y - 1, 0.0)
        value = call(name, y, logits, from_logits=True)
    else:
        value = call(name, y, p)
    np.testing.assert_allclose(value, [HAND[name][case]], rtol=1e-5, atol=1e-6)


def test_bce_hand_value():
    # p = 0.5 everywhere: log 2 whatever the truth; p = 0.9 on a positive pixel: -log 0.9
    y = np.array([[[[1.0], [0.0]]], [[[1.0], [1.0]]]])
    p = np.array([[[[0.5], [0.5]]], [[[0.9], [0.9]]]])
    np.testing.assert_allclose(call("bce", y, p), [np.log(2), -np.log(0.9)], rtol=1e-6)


def test_focal_hand_value():
    # y = 1, p = 0.9: -0.25 * 0.1^2 * log(0.9); y = 0, p = 0.9: -0.75 * 0.9^2 * log(0.1)
    y = np.array([[[[1.0]]], [[[0.0]]]])
    p = np.full((2, 1, 1, 1), 0.9)
    expected = [-0.25 * 0.01 * np.log(0.9), -0.75 * 0.81 * np.log(0.1)]
    np.testing.assert_allclose(call("focal", y, p), expected, rtol=1e-5)


def test_bce_dice_weight():
    y, p = batch_of_cases()
    value = call("bce_dice", y, p, bce_weight=0.2)
    expected = 0.2 * call("bce", y, p) + 0.8 * call("dice", y, p)
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_lovasz_hinge_soft_logits_reference():
    rng = np.random.default_rng(1)
    y = (rng.random((3, 6, 5, 1)) > 0.5).astype("float64")
    y[0] = 0.0
    logits = rng.normal(size=y.shape) * 2
    np.testing.assert_allclose(call("lovasz_hinge", y, logits, from_logits=True),
                               np_lovasz(y, logits), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("size", "window"), [(16, 3), (64, 7), (128, 13), (256, 25), (512, 51)])
def test_border_window_is_odd_and_scales(size, window):
    assert border_window(size, size) == window
    assert border_window(size, 2 * size) == window


def test_border_weights_match_reference_and_keep_total():
    y, _ = batch_of_cases()
    weights = np.asarray(losses.border_weights(y.astype("float32"), 3))
    np.testing.assert_allclose(weights, np_border_weights(y, 3), rtol=1e-5)
    np.testing.assert_allclose(weights.sum(axis=(1, 2, 3)), 64.0, rtol=1e-5)
    # heavier on the edge of the square than in its centre or far outside it
    perfect = weights[0, ..., 0]
    assert perfect[2, 3] > perfect[4, 4] and perfect[2, 3] > perfect[7, 0]


def test_border_weights_reject_even_window():
    with pytest.raises(ValueError, match="odd"):
        losses.border_weights(np.zeros((1, 8, 8, 1), "float32"), 4)


def test_weighted_losses_with_an_explicit_weight_map():
    y, p = batch_of_cases()
    ones = np.ones_like(y)
    for weighted, plain in (("weighted_dice", "dice"), ("weighted_bce", "bce")):
        np.testing.assert_allclose(call(weighted, y, p, weight_map=ones), call(plain, y, p),
                                   rtol=1e-6)


# ---- multi-class Dice + cross-entropy ----

def np_dice_ce(labels, probs, include_background=True, ignore_index=None, batch=False):
    k = probs.shape[-1]
    valid = np.ones(labels.shape) if ignore_index is None else (labels != ignore_index) * 1.0
    one_hot = np.eye(k)[np.where(valid > 0, labels, 0)] * valid[..., None]
    p = probs * valid[..., None]

    def sums(x):
        s = x.sum(axis=(1, 2))
        return np.broadcast_to(s.sum(axis=0), s.shape) if batch else s

    dice = (2 * sums(p * one_hot) + 1) / (sums(p) + sums(one_hot) + 1)
    if not include_background:
        dice = dice[:, 1:]
    ce = -(one_hot * np.log(np.maximum(probs, EPS))).sum(axis=(1, 2, 3))
    ce = ce / np.maximum(valid.sum(axis=(1, 2)), 1)
    return 1 - dice.mean(axis=1) + ce


def multiclass_batch():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=(3, 5, 6))
    labels[1, :2] = 255
    labels[2] = 255
    logits = rng.normal(size=(3, 5, 6, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    return labels, logits, probs


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
def test_dice_ce_matches_numpy_reference(include_background, batch):
    labels, _, probs = multiclass_batch()
    value = losses.dice_ce(labels, probs.astype("float32"), include_background=include_background,
                           ignore_index=255, batch=batch)
    expected = np_dice_ce(labels, probs, include_background, 255, batch)
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-5)


def test_dice_ce_hand_values():
    # perfect one-hot prediction: Dice 1 per class and CE 0; uniform over 2 classes: CE = log 2
    labels = np.array([[[0, 1], [1, 1]]])
    perfect = np.eye(2)[labels].astype("float32")
    np.testing.assert_allclose(np.asarray(losses.dice_ce(labels, perfect)), [0.0], atol=1e-6)
    uniform = np.full((1, 2, 2, 2), 0.5, "float32")
    # class 0: (2*0.5 + 1) / (2 + 1 + 1) = 0.5; class 1: (2*1.5 + 1) / (2 + 3 + 1) = 2/3
    expected = 1 - (0.5 + 2 / 3) / 2 + np.log(2)
    np.testing.assert_allclose(np.asarray(losses.dice_ce(labels, uniform)), [expected],
                               rtol=1e-6)


def test_dice_ce_all_pixels_ignored_scores_zero():
    labels = np.full((1, 4, 4), 255)
    probs = np.full((1, 4, 4, 3), 1 / 3, "float32")
    value = losses.dice_ce(labels, probs, ignore_index=255)
    np.testing.assert_allclose(np.asarray(value), [0.0], atol=1e-7)
