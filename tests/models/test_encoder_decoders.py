"""Decoders on pretrained-style encoders: shapes, freezing, save/load and SavedModel round trips."""

import os

import keras
import numpy as np
import pytest

from keras_seg.export import export_saved_model, load_saved_model
from keras_seg.models import (
    ENCODER_NAMES,
    builder_options,
    get_model,
    head_count,
    output_count,
    set_encoder_trainable,
)

# The sweep over every keras.applications encoder is not part of the default run: it was
# never completed on this machine (see the stop-23 note); run it with KERAS_SEG_ENCODER_SWEEP=1.
SWEEP = pytest.mark.skipif(not os.environ.get("KERAS_SEG_ENCODER_SWEEP"),
                           reason="encoder sweep: set KERAS_SEG_ENCODER_SWEEP=1")

DECODERS = ("unet", "unet_plus_plus", "fpn", "deeplabv3_plus")
# Decoder widths that keep CPU tests small; the encoders keep their own widths.
SMALL = {
    "unet": {"filters": 4},
    "unet_plus_plus": {"filters": 4},
    "fpn": {"pyramid_filters": 8, "segmentation_filters": 8},
    "deeplabv3_plus": {"aspp_filters": 8, "low_level_filters": 4},
}
# The quick run: a small encoder with all five strides, and ConvNeXt, which lacks stride 2.
QUICK = ("mobilenetv3small", "convnexttiny")


def _cases():
    """Every encoder x decoder, channel counts 1, 3, 4 in turn; all but QUICK marked slow."""
    for i, encoder in enumerate(ENCODER_NAMES):
        for j, decoder in enumerate(DECODERS):
            marks = [] if encoder in QUICK else [pytest.mark.slow, SWEEP]
            channels = (1, 3, 4)[(i + j) % 3]
            yield pytest.param(encoder, decoder, channels, id=f"{encoder}-{decoder}-{channels}ch",
                               marks=marks)


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


def _model(decoder, encoder="mobilenetv3small", channels=3, size=None, **options):
    return get_model(decoder, input_shape=(size, size, channels), encoder=encoder,
                     **{**SMALL[decoder], **options})


@pytest.mark.parametrize(("encoder", "decoder", "channels"), _cases())
def test_every_encoder_and_decoder_builds_at_two_sizes(encoder, decoder, channels):
    model = _model(decoder, encoder, channels)
    for size in (64, 96):
        spec = model.compute_output_spec(keras.KerasTensor((2, size, size, channels)))
        assert tuple(spec.shape) == (2, size, size, 1)
    assert len(model.get_layer(f"{decoder}_preprocess").scale) == channels


@pytest.mark.parametrize("decoder", DECODERS)
def test_forward_pass_gives_probabilities(decoder):
    model = _model(decoder, channels=4, size=64, num_classes=3)
    y = model.predict(np.random.default_rng(0).standard_normal((2, 64, 64, 4)).astype("float32"),
                      verbose=0)
    assert y.shape == (2, 64, 64, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_encoder_options_reach_every_decoder():
    for decoder in DECODERS:
        assert {"encoder", "encoder_weights", "encoder_freeze"} <= set(builder_options(decoder))


def test_unet_depth_with_an_encoder():
    model = _model("unet", size=None, depth=3)
    assert [layer.name for layer in model.layers if layer.name.endswith("_concat")] == [
        "unet_dec3_concat", "unet_dec2_concat"]  # skips at strides 4 and 2; none at full size
    assert tuple(model.compute_output_spec(keras.KerasTensor((1, 40, 40, 3))).shape) == (
        1, 40, 40, 1)
    with pytest.raises(ValueError, match="input height 36 is not divisible by 8"):
        _model("unet", size=36, depth=3)


@pytest.mark.parametrize(("encoder", "outputs"), [("mobilenetv3small", 5), ("convnexttiny", 4)])
def test_unet_plus_plus_deep_supervision_heads(encoder, outputs):
    model = _model("unet_plus_plus", encoder, size=64, deep_supervision=True)
    assert head_count(model) == outputs  # X(0, 1) does not exist without a stride-2 feature
    assert output_count(model) == 1
    assert model.get_layer("unet_plus_plus_out5_conv") is not None


def _trainable_count(layers):
    return sum(int(np.prod(w.shape)) for layer in layers for w in layer.trainable_weights)


def test_freeze_and_unfreeze(tmp_path):
    model = _model("unet", channels=1, size=32, encoder_freeze=True)
    encoder = [layer for layer in model.layers if layer.name.startswith("unet_encoder_")]
    decoder = [layer for layer in model.layers if not layer.name.startswith("unet_encoder_")]
    encoder_params = sum(int(np.prod(w.shape)) for layer in encoder for w in layer.weights
                         if "moving" not in w.path)
    assert encoder_params > 0 and _trainable_count(encoder) == 0
    assert _trainable_count(model.layers) == _trainable_count(decoder) > 0

    x = np.random.default_rng(0).standard_normal((4, 32, 32, 1)).astype("float32")
    y = (x > 0).astype("float32")
    bn = next(layer for layer in encoder if isinstance(layer, keras.layers.BatchNormalization))
    before = [w.copy() for w in bn.get_weights()]  # gamma, beta, moving mean, moving variance
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    model.train_on_batch(x, y)
    for a, b in zip(before, bn.get_weights(), strict=True):  # inference mode: stats unchanged
        np.testing.assert_array_equal(a, b)

    path = str(tmp_path / "frozen.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # a resumed run gets the frozen encoder back
    assert _trainable_count(loaded.layers) == _trainable_count(decoder)
    set_encoder_trainable(loaded, True)
    assert _trainable_count(loaded.layers) == _trainable_count(decoder) + encoder_params
    loaded.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    loaded.train_on_batch(x, y)
    moved = loaded.get_layer(bn.name).get_weights()
    assert not np.allclose(moved[2], before[2])  # moving mean follows the batches again
    set_encoder_trainable(loaded, False)
    assert _trainable_count(loaded.layers) == _trainable_count(decoder)


def test_set_encoder_trainable_needs_an_encoder():
    model = get_model("unet", input_shape=(32, 32, 1), filters=4, depth=2)
    with pytest.raises(ValueError, match="model 'unet' has no pretrained-style encoder"):
        set_encoder_trainable(model, True)


@pytest.mark.parametrize("decoder", DECODERS)
def test_keras_and_saved_model_round_trips(tmp_path, decoder):
    model = _model(decoder, channels=2)
    x = np.random.default_rng(3).standard_normal((2, 64, 64, 2)).astype("float32")
    expected = model.predict(x, verbose=0)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    export_saved_model(model, os.path.join(tmp_path, "saved"))
    served = load_saved_model(os.path.join(tmp_path, "saved"))
    np.testing.assert_allclose(served.serve(x).numpy(), expected, rtol=1e-5, atol=1e-6)
