"""Loss names, factories, configuration round trips and argument checks."""

import keras
import numpy as np
import pytest

from keras_seg import losses

CLASSES = {
    "bce": losses.BCELoss,
    "dice": losses.DiceLoss,
    "log_dice": losses.LogDiceLoss,
    "bce_dice": losses.BCEDiceLoss,
    "bce_logdice": losses.BCELogDiceLoss,
    "focal": losses.FocalLoss,
    "focal_dice": losses.FocalDiceLoss,
    "weighted_dice": losses.WeightedDiceLoss,
    "weighted_bce": losses.WeightedBCELoss,
    "weighted_bce_dice": losses.WeightedBCEDiceLoss,
    "soft_iou": losses.SoftIoULoss,
    "tversky": losses.TverskyLoss,
    "focal_tversky": losses.FocalTverskyLoss,
    "lovasz_hinge": losses.LovaszHingeLoss,
    "dice_ce": losses.DiceCELoss,
}


def test_names_in_documented_order():
    assert losses.NAMES == tuple(CLASSES)


@pytest.mark.parametrize("name", losses.NAMES)
def test_get_returns_a_configured_registered_loss(name):
    loss = losses.get(name)
    assert type(loss) is CLASSES[name]
    assert isinstance(loss, keras.losses.Loss)
    assert loss.name == name
    assert keras.saving.get_registered_name(type(loss)) == f"keras_seg>{type(loss).__name__}"


@pytest.mark.parametrize("name", losses.NAMES)
def test_config_round_trip(name):
    loss = losses.get(name, from_logits=True, reduction="sum")
    config = loss.get_config()
    assert config["from_logits"] is True and config["reduction"] == "sum"
    assert type(loss).from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss) and restored.get_config() == config


@pytest.mark.parametrize("name", losses.NAMES)
def test_function_call_and_class_agree(name):
    rng = np.random.default_rng(0)
    if name == "dice_ce":
        y, p = rng.integers(0, 3, size=(2, 8, 8)), rng.dirichlet(np.ones(3), size=(2, 8, 8))
    else:
        y, p = (rng.random((2, 8, 8, 1)) > 0.5) * 1.0, rng.random((2, 8, 8, 1))
    per_image = np.asarray(getattr(losses, name)(y, p.astype("float32")))
    loss = losses.get(name)
    np.testing.assert_allclose(loss(y, p), per_image.mean(), rtol=1e-6)
    # Keras' reduction applies sample weights per image
    np.testing.assert_allclose(loss(y, p, sample_weight=np.array([1.0, 0.0])),
                               per_image[0] / 2, rtol=1e-6)


def test_get_passes_keyword_arguments():
    loss = losses.get("bce_logdice", batch=True)
    assert loss.get_config()["batch"] is True
    assert losses.get("dice_ce", ignore_index=255).get_config()["ignore_index"] == 255
    with pytest.raises(TypeError):
        losses.get("bce", batch=True)


def test_get_unknown_name_lists_the_valid_names_on_one_line():
    with pytest.raises(ValueError) as error:
        losses.get("xyz")
    message = str(error.value)
    assert message == f"unknown loss 'xyz'; valid names: {', '.join(losses.NAMES)}"
    assert "\n" not in message


def test_get_returns_a_loss_instance_unchanged():
    loss = losses.focal_loss()
    assert losses.get(loss) is loss
    with pytest.raises(ValueError, match="existing loss"):
        losses.get(loss, gamma=3.0)
    with pytest.raises(TypeError):
        losses.get(3)


FACTORIES = [
    (losses.focal_loss(gamma=2.0, alpha=0.25), losses.FocalLoss, {"gamma": 2.0, "alpha": 0.25}),
    (losses.focal_loss(3.0, 0.5), losses.FocalLoss, {"gamma": 3.0, "alpha": 0.5}),
    (losses.dice_coef_loss(), losses.DiceLoss, {"smooth": 1.0, "batch": False}),
    (losses.dice_loss(batch=True), losses.DiceLoss, {"batch": True}),
    (losses.log_dice_loss(), losses.LogDiceLoss, {"smooth": 1.0}),
    (losses.bce_loss(from_logits=True), losses.BCELoss, {"from_logits": True}),
    (losses.bce_dice_loss(), losses.BCEDiceLoss, {"bce_weight": 0.5}),
    (losses.bce_logdice_loss(batch=True), losses.BCELogDiceLoss, {"batch": True}),
    (losses.mixed_loss(alpha=5.0), losses.FocalDiceLoss, {"alpha": 5.0, "gamma": 2.0}),
    (losses.focal_dice_loss(), losses.FocalDiceLoss, {"alpha": 10.0}),
    (losses.weighted_dice_loss(window=5), losses.WeightedDiceLoss, {"window": 5}),
    (losses.weighted_bce_loss(), losses.WeightedBCELoss, {"window": None}),
    (losses.weighted_bce_dice_loss(), losses.WeightedBCEDiceLoss, {"window": None}),
    (losses.soft_iou_loss(), losses.SoftIoULoss, {"smooth": 1.0}),
    (losses.tversky_loss(), losses.TverskyLoss, {"alpha": 0.3, "beta": 0.7}),
    (losses.focal_tversky_loss(), losses.FocalTverskyLoss, {"gamma": 4.0 / 3.0}),
    (losses.lovasz_hinge_loss(), losses.LovaszHingeLoss, {"from_logits": False}),
    (losses.dice_ce_loss(include_background=False, ignore_index=255), losses.DiceCELoss,
     {"include_background": False, "ignore_index": 255}),
]


@pytest.mark.parametrize(("loss", "cls", "expected"), FACTORIES,
                         ids=[f"{type(f[0]).__name__}-{i}" for i, f in enumerate(FACTORIES)])
def test_factories_return_configured_instances(loss, cls, expected):
    assert type(loss) is cls
    config = loss.get_config()
    assert {key: config[key] for key in expected} == expected


@pytest.mark.parametrize(
    "make",
    [
        lambda: losses.FocalLoss(alpha=1.5),
        lambda: losses.FocalLoss(gamma=-1.0),
        lambda: losses.focal_loss(alpha=-0.1),
        lambda: losses.FocalDiceLoss(focal_alpha=2.0),
    ],
)
def test_bad_focal_arguments_are_refused(make):
    with pytest.raises(ValueError, match="alpha|gamma"):
        make()


def test_bad_call_arguments_are_refused():
    y = np.zeros((1, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match="smooth"):
        losses.dice(y, y, smooth=-1.0)
    with pytest.raises(ValueError, match="window"):
        losses.weighted_bce_dice(y, y, window=4)
    with pytest.raises(ValueError, match="gamma"):
        losses.focal_tversky(y, y, gamma=0.0)
    with pytest.raises(ValueError, match="bce_weight"):
        losses.bce_dice(y, y, bce_weight=1.5)
