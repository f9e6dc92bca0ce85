"""ResNet34-encoder U-Net: encoder size, torchvision weight layout, ``encoder_weights``."""

import keras
import numpy as np
import pytest

from keras_seg.models import res_unet
from keras_seg.models.res_unet import resnet34_encoder, set_torchvision_weights


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.fixture(scope="module")
def encoder():
    return resnet34_encoder(input_shape=(None, None, 3))


def _torchvision_state_dict(seed=0):
    """A random state_dict with torchvision's resnet34 keys and shapes (written out by hand)."""
    rng = np.random.default_rng(seed)
    state = {}

    def conv(key, out, inp, k):
        state[f"{key}.weight"] = rng.normal(size=(out, inp, k, k)).astype("float32")

    def bn(key, c):
        for field in ("weight", "bias", "running_mean"):
            state[f"{key}.{field}"] = rng.normal(size=(c,)).astype("float32")
        state[f"{key}.running_var"] = rng.uniform(0.5, 2.0, size=(c,)).astype("float32")
        state[f"{key}.num_batches_tracked"] = np.array(1)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    inp = 64
    for stage, (blocks, out) in enumerate(
        zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True), start=1
    ):
        for b in range(blocks):
            key = f"layer{stage}.{b}"
            conv(f"{key}.conv1", out, inp, 3)
            bn(f"{key}.bn1", out)
            conv(f"{key}.conv2", out, out, 3)
            bn(f"{key}.bn2", out)
            if b == 0 and stage > 1:
                conv(f"{key}.downsample.0", out, inp, 1)
                bn(f"{key}.downsample.1", out)
            inp = out
    state["fc.weight"] = rng.normal(size=(1000, 512)).astype("float32")
    state["fc.bias"] = rng.normal(size=(1000,)).astype("float32")
    return state


def test_encoder_has_resnet34_parameter_count(encoder):
    # torchvision resnet34: 21,797,672 parameters, of which the classifier has 512*1000 + 1000.
    assert _count(encoder.trainable_weights) == 21_797_672 - 513_000


def test_encoder_feature_strides(encoder):
    x = np.zeros((1, 64, 96, 3), "float32")
    shapes = [tuple(f.shape) for f in encoder(x)]
    assert shapes == [
        (1, 32, 48, 64),
        (1, 16, 24, 64),
        (1, 8, 12, 128),
        (1, 4, 6, 256),
        (1, 2, 3, 512),
    ]


def test_torchvision_weights_fill_every_encoder_weight(encoder):
    state = _torchvision_state_dict()
    set_torchvision_weights(encoder, state)
    conv = encoder.get_layer("resnet34_layer3_0_downsample_0")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(conv.kernel),
        state["layer3.0.downsample.0.weight"].transpose(2, 3, 1, 0),
    )
    bn = encoder.get_layer("resnet34_layer4_2_bn2")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(bn.moving_variance), state["layer4.2.bn2.running_var"]
    )
    used = {k for k in state if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    assert sum(state[k].size for k in used) == _count(encoder.weights)


def test_encoder_weights_file_loads_into_res_unet(encoder, tmp_path):
    set_torchvision_weights(encoder, _torchvision_state_dict(seed=1))
    path = tmp_path / "resnet34.weights.h5"
    encoder.save_weights(path)
    model = res_unet(input_shape=(None, None, 3), encoder_weights=str(path))
    for name in ("conv1", "bn1", "layer2_0_downsample_0", "layer4_2_conv2"):
        for loaded, saved in zip(
            model.get_layer(f"res_unet_encoder_{name}").weights,
            encoder.get_layer(f"resnet34_{name}").weights,
            strict=True,
        ):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(loaded), keras.ops.convert_to_numpy(saved)
            )


@pytest.mark.parametrize(
    ("weights", "message"),
    [("missing.weights.h5", "not found"), ("imagenet", "must be None or a '.weights.h5' file")],
)
def test_bad_encoder_weights_are_refused(tmp_path, weights, message):
    path = weights if weights == "imagenet" else str(tmp_path / weights)
    with pytest.raises(ValueError, match=message):
        res_unet(encoder_weights=path)


def test_decoder_filters_must_have_five_values():
    with pytest.raises(ValueError, match="decoder_filters needs 5 values"):
        res_unet(decoder_filters=(16, 16))
