"""The names of the circulating Keras snippets work verbatim: passed uncalled, called with options,
called with the snippet's extra arguments, and saved / reloaded in a fresh process."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import losses as top_level
from keras_seg import losses

ROOT = pathlib.Path(__file__).resolve().parents[2]

# name -> (class, the plain per-image function it calls, options for the called form)
LOSS_NAMES = {
    "dice_coef_loss": (losses.DiceLoss, losses.dice, {"smooth": 0.5}),
    "dice_loss": (losses.DiceLoss, losses.dice, {"batch": True}),
    "log_dice_loss": (losses.LogDiceLoss, losses.log_dice, {"smooth": 2.0}),
    "bce_loss": (losses.BCELoss, losses.bce, {"from_logits": False}),
    "bce_dice_loss": (losses.BCEDiceLoss, losses.bce_dice, {"bce_weight": 0.3}),
    "bce_logdice_loss": (losses.BCELogDiceLoss, losses.bce_logdice, {"batch": True}),
    "focal_loss": (losses.FocalLoss, losses.focal, {"gamma": 2.0, "alpha": 0.25}),
    "focal_dice_loss": (losses.FocalDiceLoss, losses.focal_dice, {"alpha": 5.0}),
    "mixed_loss": (losses.FocalDiceLoss, losses.focal_dice, {"alpha": 1.0}),
    "mixedLoss": (losses.FocalDiceLoss, losses.focal_dice, {"gamma": 1.0}),
    "weighted_dice_loss": (losses.WeightedDiceLoss, losses.weighted_dice, {"window": 3}),
    "weighted_bce_loss": (losses.WeightedBCELoss, losses.weighted_bce, {"window": 5}),
    "weighted_bce_dice_loss": (losses.WeightedBCEDiceLoss, losses.weighted_bce_dice,
                               {"batch": True}),
    "soft_iou_loss": (losses.SoftIoULoss, losses.soft_iou, {"smooth": 0.1}),
    "tversky_loss": (losses.TverskyLoss, losses.tversky, {"alpha": 0.5, "beta": 0.5}),
    "focal_tversky_loss": (losses.FocalTverskyLoss, losses.focal_tversky, {"gamma": 2.0}),
    "lovasz_hinge_loss": (losses.LovaszHingeLoss, losses.lovasz_hinge, {"from_logits": False}),
}
# name -> (class, per-image function, options for the called form)
METRIC_NAMES = {
    "dice_coef": (losses.DiceCoefficient, losses.metrics.dice_coefficient_per_image,
                  {"smooth": 0.5}),
    "iou": (losses.ForegroundIoU, losses.metrics.iou_per_image, {"threshold": 0.3}),
    "mean_iou": (losses.ThresholdMeanIoUPerImage, losses.metrics.mean_iou_per_image,
                 {"thresholds": [0.5, 0.75]}),
}


def batch(seed=0, shape=(3, 8, 8, 1)):
    rng = np.random.default_rng(seed)
    y = (rng.random(shape) > 0.6).astype("float32")
    p = rng.uniform(0.02, 0.98, shape).astype("float32")
    return y, p


def test_every_name_is_importable_from_both_homes():
    for name in [*LOSS_NAMES, *METRIC_NAMES, "ThresholdMeanIoU", "MeanIoU"]:
        assert getattr(top_level, name) is getattr(losses, name)
    assert top_level is losses


@pytest.mark.parametrize("name", list(LOSS_NAMES))
def test_loss_name_uncalled_is_the_default_loss(name):
    cls, fn, _ = LOSS_NAMES[name]
    obj = getattr(losses, name)
    y, p = batch()
    assert type(obj) is cls and isinstance(obj, keras.losses.Loss)
    np.testing.assert_allclose(obj(y, p), np.mean(fn(y, p)), rtol=1e-6)
    # Keras' positional sample weights: per image, then per pixel (as in a field of view)
    np.testing.assert_allclose(obj(y, p, np.array([1.0, 0.0, 1.0])),
                               np.sum(np.asarray(fn(y, p))[[0, 2]]) / 3, rtol=1e-6)
    pixels = np.ones_like(y)
    pixels[:, :, 4:] = 0.0
    np.testing.assert_allclose(obj(y, p, pixels), np.mean(fn(y, p, weight=pixels)), rtol=1e-6)


@pytest.mark.parametrize("name", list(LOSS_NAMES))
def test_loss_name_called_with_options_is_a_configured_loss(name):
    cls, fn, options = LOSS_NAMES[name]
    loss = getattr(losses, name)(**options)
    assert type(loss) is cls
    assert {k: loss.get_config()[k] for k in options} == options
    y, p = batch(1)
    np.testing.assert_allclose(loss(y, p), np.mean(fn(y, p, **options)), rtol=1e-6)
    # per-call keyword options, as `dice_loss(y, p, smooth=0.5)`
    np.testing.assert_allclose(getattr(losses, name)(y, p, **options), loss(y, p), rtol=1e-6)


@pytest.mark.parametrize("name", list(METRIC_NAMES))
def test_metric_names_both_ways(name):
    cls, fn, options = METRIC_NAMES[name]
    obj = getattr(losses, name)
    y, p = batch(2)
    assert type(obj) is cls and obj.name == name
    np.testing.assert_allclose(obj(y, p), fn(y, p), rtol=1e-6)
    configured = obj(**options)
    assert type(configured) is cls
    np.testing.assert_allclose(configured(y, p), fn(y, p, **options), rtol=1e-6)


def test_positional_options_keep_the_old_factory_order():
    config = losses.focal_loss(3.0, 0.5).get_config()
    assert (config["gamma"], config["alpha"]) == (3.0, 0.5)
    config = losses.dice_loss(0.5, True).get_config()
    assert (config["smooth"], config["batch"]) == (0.5, True)
    config = losses.dice_ce_loss(False, 255).get_config()
    assert (config["include_background"], config["ignore_index"]) == (False, 255)


def test_the_snippets_extra_positional_arguments():
    y, p = batch(3)
    # mixedLoss(y_true, y_pred, alpha): alpha weighs the focal term
    for alpha in (1.0, 10.0):
        expected = np.mean(losses.focal_dice(y, p, alpha=alpha))
        np.testing.assert_allclose(losses.mixedLoss(y, p, alpha), expected, rtol=1e-6)
    # dice_coef(y_true, y_pred, smooth)
    np.testing.assert_allclose(losses.dice_coef(y, p, 0.0),
                               losses.metrics.dice_coefficient_per_image(y, p, smooth=0.0))
    # weighted_dice_loss(y_true, y_pred, weight): the weight multiplies the border map
    weight = np.where(np.arange(8)[None, :, None, None] < 5, 1.0, 0.0) * np.ones_like(y)
    np.testing.assert_allclose(losses.weighted_dice_loss(y, p, weight),
                               np.mean(losses.weighted_dice(y, p, weight=weight)), rtol=1e-6)


def test_the_six_usages_of_the_issue():
    """The six ways users write it, unchanged, train a step."""
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype("float32")
    y = (x > 0.6).astype("float32")

    def user_loss(y_true, y_pred):
        return losses.mixedLoss(y_true, y_pred, 10.0)

    usages = [
        {"loss": [losses.focal_loss(alpha=0.25, gamma=2)]},
        {"loss": losses.bce_logdice_loss},
        {"loss": losses.dice_coef_loss, "metrics": [losses.dice_coef]},
        {"loss": losses.weighted_bce_dice_loss},
        {"loss": "binary_crossentropy", "metrics": [losses.mean_iou]},
        {"loss": user_loss},
    ]
    for usage in usages:
        inputs = keras.Input((16, 16, 1))
        outputs = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inputs)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", run_eagerly=True, **usage)
        history = model.fit(x, y, batch_size=2, epochs=1, verbose=0).history
        assert all(np.isfinite(v[-1]) for v in history.values()), usage
        if "metrics" in usage:
            name = usage["metrics"][0].name
            assert name in history, history.keys()


# ---- save with every name, both forms; reload in a fresh process ----

RELOAD_SCRIPT = r"""
import json, sys
import keras
import numpy as np
cases = json.load(open(sys.argv[1]))
data = np.load(sys.argv[2])
try:
    keras.models.load_model(cases[0]["path"])
    error = None
except Exception as e:
    error = str(e)
__import__(sys.argv[3])
out = {"error_without_import": error, "results": {}}
for case in cases:
    model = keras.models.load_model(case["path"])
    targets = [data["y_classes"] if name == "dice_ce_loss" else data["y"]
               for name in case["names"]]
    out["results"][case["form"]] = {
        "loss_classes": [type(loss).__name__ for loss in model.loss],
        "metrics": model.evaluate(data["x"], targets, verbose=0, return_dict=True)}
print("RESULT" + json.dumps(out))
"""

NAMES = [*LOSS_NAMES, "dice_ce_loss"]


def _heads_model():
    """One 1x1-conv head per loss name: sigmoid, softmax over 3 classes for dice_ce."""
    inputs = keras.Input((8, 8, 1))
    outputs = [keras.layers.Conv2D(3 if name == "dice_ce_loss" else 1, 1, name=name,
                                   activation="softmax" if name == "dice_ce_loss" else "sigmoid")
               (inputs) for name in NAMES]
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Two models, one head per loss name: every loss and metric name passed uncalled, and every
    one called with options; fitted two steps, saved, with their evaluate() results."""
    folder = tmp_path_factory.mktemp("saved")
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 1)).astype("float32")
    y = (x > 0.5).astype("float32")
    y_classes = np.where(x[..., 0] > 0.9, 255, (x[..., 0] * 3).astype("int32"))
    np.savez(folder / "data.npz", x=x, y=y, y_classes=y_classes)
    targets = [y_classes if name == "dice_ce_loss" else y for name in NAMES]
    metrics = {
        "uncalled": [losses.dice_coef, losses.iou, losses.mean_iou, losses.ThresholdMeanIoU()],
        "called": [losses.dice_coef(smooth=0.5), losses.iou(threshold=0.3),
                   losses.mean_iou(thresholds=[0.5, 0.75]), losses.MeanIoU(thresholds=[0.4])],
    }
    cases, expected = [], {}
    for form in ("uncalled", "called"):
        loss_objects = []
        for name in NAMES:
            obj = getattr(losses, name)
            if form == "called":
                obj = obj(ignore_index=255) if name == "dice_ce_loss" else obj(
                    **LOSS_NAMES[name][2])
            loss_objects.append(obj)
        model = _heads_model()
        model.compile(optimizer="adam", loss=loss_objects,
                      metrics=[metrics[form]] + [None] * (len(NAMES) - 1), run_eagerly=True)
        model.fit(x, targets, batch_size=2, epochs=1, verbose=0)
        path = folder / f"{form}.keras"
        model.save(path)
        cases.append({"form": form, "path": str(path), "names": NAMES})
        expected[form] = {"loss_classes": [type(loss).__name__ for loss in model.loss],
                          "metrics": model.evaluate(x, targets, verbose=0, return_dict=True)}
    (folder / "cases.json").write_text(json.dumps(cases))
    return folder, expected


def test_models_reload_in_a_fresh_process(saved_models):
    """Reloaded where the only import is keras_seg (the top-level `losses` is the same
    module: see test_every_name_is_importable_from_both_homes)."""
    folder, expected = saved_models
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(folder / "cases.json"),
         str(folder / "data.npz"), "keras_seg"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    # without the import, Keras' error names the module to import
    assert "Could not locate class" in out["error_without_import"]
    assert "'module': 'keras_seg.losses'" in out["error_without_import"]
    assert out["results"].keys() == expected.keys()
    for form, want in expected.items():
        got = out["results"][form]
        assert got["loss_classes"] == want["loss_classes"], form
        assert len(want["metrics"]) > len(NAMES) + 4  # a loss per head plus the metrics
        assert got["metrics"].keys() == want["metrics"].keys(), form
        for key, value in want["metrics"].items():
            np.testing.assert_allclose(got["metrics"][key], value, rtol=1e-5,
                                       err_msg=f"{form}: {key}")


def test_models_saved_before_the_rename_still_load():
    """Configs as keras-seg 0.1 wrote them: module `losses.*`, dice_coef a registered function,
    the threshold metric registered as MeanIoU."""
    old_metrics = [
        {"module": "builtins", "class_name": "function", "config": "keras_seg>dice_coef",
         "registered_name": "function"},
        {"module": "losses.metrics", "class_name": "MeanIoU",
         "config": {"name": "mean_iou", "dtype": "float32", "thresholds": [0.5, 0.75],
                    "from_logits": False}, "registered_name": "keras_seg>MeanIoU"},
    ]
    old_loss = {"module": "losses.focal", "class_name": "FocalLoss",
                "config": {"name": "focal", "reduction": "sum_over_batch_size", "gamma": 3.0,
                           "alpha": 0.25, "from_logits": False},
                "registered_name": "keras_seg>FocalLoss"}
    dice_coef, mean_iou = (keras.saving.deserialize_keras_object(m) for m in old_metrics)
    assert dice_coef is losses.dice_coef
    assert type(mean_iou) is losses.ThresholdMeanIoU and mean_iou.thresholds == (0.5, 0.75)
    focal = keras.saving.deserialize_keras_object(old_loss)
    assert type(focal) is losses.FocalLoss and focal.get_config()["gamma"] == 3.0
    assert losses.MeanIoU is losses.ThresholdMeanIoU
