"""``get_model``: names, options and the exported helpers."""

import pytest

import keras_seg.models as models
from keras_seg.models import MODEL_NAMES, get_model, head_count, output_count


def test_model_names_and_exports():
    assert MODEL_NAMES == (
        "unet", "attention_unet", "res_unet", "unet_plus_plus", "fpn", "deeplabv3_plus"
    )
    assert MODEL_NAMES == tuple(models.MODELS)  # one registry: the names derive from it
    for name in MODEL_NAMES:
        assert getattr(models, name) is models.MODELS[name]


def test_unknown_model_name():
    with pytest.raises(ValueError) as info:
        get_model("xyz")
    assert str(info.value) == (
        "unknown model 'xyz'; valid names: unet, attention_unet, res_unet, unet_plus_plus, fpn, "
        "deeplabv3_plus"
    )


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"unknown option 'filterz' for model 'unet'; valid"):
        get_model("unet", filterz=8)
    with pytest.raises(ValueError, match=r"unknown option 'depth' for model 'res_unet'"):
        get_model("res_unet", depth=3)


def test_options_reach_the_builder():
    model = get_model(
        "unet_plus_plus",
        input_shape=(32, 32, 2),
        num_classes=3,
        filters=4,
        depth=2,
        deep_supervision=True,
        name="nested",
    )
    assert model.name == "nested"
    assert output_count(model) == 1 and head_count(model) == 2  # extra heads only in training
    assert model.get_layer("nested_enc1_conv1").filters == 4
    assert tuple(model.outputs[-1].shape) == (None, 32, 32, 3)
