"""U-Net: the reference network's parameter count and layer layout."""

import keras
import numpy as np
import pytest

from keras_seg.models import unet


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def test_reference_parameter_count():
    # mateuszbuda/brain-segmentation-pytorch: 32 features, 4 levels, convs without bias,
    # 2x2 stride-2 transposed convs and the 1x1 head with bias. PyTorch counts 7,763,041
    # parameters; BatchNorm's running statistics are buffers there, non-trainable here.
    model = unet(input_shape=(256, 256, 3), num_classes=1)
    assert _count(model.trainable_weights) == 7_763_041
    bn_channels = 2 * (32 + 64 + 128 + 256) + 2 * 512 + 2 * (256 + 128 + 64 + 32)
    assert _count(model.non_trainable_weights) == 2 * bn_channels


def test_layer_layout_and_names():
    model = unet(filters=8, depth=3)
    conv = model.get_layer("unet_enc1_conv1")
    assert conv.filters == 8 and conv.kernel_size == (3, 3) and not conv.use_bias
    assert model.get_layer("unet_bottleneck_conv2").filters == 64
    bn = model.get_layer("unet_enc2_bn1")
    assert (bn.momentum, bn.epsilon) == (0.9, 1e-5)
    up = model.get_layer("unet_dec3_up_upconv")
    assert isinstance(up, keras.layers.Conv2DTranspose)
    assert (up.filters, up.kernel_size, up.strides, up.use_bias) == (32, (2, 2), (2, 2), True)
    assert model.get_layer("unet_dec1_concat").output.shape[-1] == 8 + 8
    head = model.get_layer("unet_head")
    assert (head.filters, head.kernel_size, head.use_bias) == (1, (1, 1), True)
    assert model.layers[-1].name == "unet_probs"
    assert model.layers[-1].dtype_policy.name == "float32"


def test_softmax_for_several_classes():
    model = unet(num_classes=4, filters=4, depth=2)
    assert model.layers[-1].get_config()["activation"] == "softmax"


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((250, 256, 3), r"height 250 is not divisible by 16 .* such as 240 or 256"),
        ((256, 8, 3), r"width 8 is not divisible by 16 .* such as 16"),
        ((256, 256), r"input_shape must be \(height, width, channels\)"),
    ],
)
def test_refused_input_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        unet(input_shape=shape)


def test_depth_sets_the_stride():
    assert unet(input_shape=(40, 40, 1), filters=4, depth=3).output.shape[1:] == (40, 40, 1)
    with pytest.raises(ValueError, match="not divisible by 16"):
        unet(input_shape=(40, 40, 1), filters=4, depth=4)


@pytest.mark.parametrize(("option", "value"), [("filters", 0), ("depth", 0), ("depth", 2.0)])
def test_refuses_bad_sizes(option, value):
    with pytest.raises(ValueError, match=option):
        unet(**{option: value})


def test_softmax_with_one_class_is_refused():
    with pytest.raises(ValueError, match="softmax over a single class"):
        unet(num_classes=1, activation="softmax")
