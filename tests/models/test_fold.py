"""fold_batchnorm: BatchNormalization folded into the convolution before it, for inference."""

import keras
import numpy as np
import pytest

from keras_seg.models import fold_batchnorm, get_model
from keras_seg.models.fold import FoldedBatchNorm

DECODERS = ("unet", "attention_unet", "res_unet", "unet_plus_plus", "fpn", "deeplabv3_plus")


def randomise_statistics(model, seed=1):
    """Give every BatchNormalization statistics and affine weights far from the defaults."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.2, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.3, 3.0, n).astype("float32"))
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            if layer.center:
                layer.beta.assign(rng.normal(0, 0.2, n).astype("float32"))
    return model


def count(model, kind):
    return sum(isinstance(layer, kind)
               for layer in model._flatten_layers(include_self=False, recursive=True))


def test_one_convolution_and_its_batchnorm_fold_into_the_hand_computed_kernel_and_bias():
    inputs = keras.Input((None, None, 2))
    conv = keras.layers.Conv2D(3, 1, use_bias=True, name="conv")
    bn = keras.layers.BatchNormalization(epsilon=0.01, name="bn")
    model = keras.Model(inputs, keras.layers.ReLU()(bn(conv(inputs))))
    kernel = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], np.float32).reshape(1, 1, 2, 3)
    conv.set_weights([kernel, np.array([0.1, 0.2, -0.3], np.float32)])
    gamma, beta = np.array([4.0, 0.5, 3.0]), np.array([0.0, 1.0, -1.0])
    mean, var = np.array([1.0, -1.0, 0.0]), np.array([3.99, 0.24, 0.99])
    bn.set_weights([gamma, beta, mean, var])
    folded = fold_batchnorm(model)
    new_conv = folded.get_layer("conv")
    # scale = gamma / sqrt(var + eps) = 4 / 2, 0.5 / 0.5, 3 / 1 = 2, 1, 3 (output channels)
    np.testing.assert_allclose(new_conv.get_weights()[0], kernel * np.array([2.0, 1.0, 3.0]),
                               rtol=1e-6)
    # bias' = (b - mean) * scale + beta = (0.1 - 1) 2 + 0, (0.2 + 1) 1 + 1, (-0.3 - 0) 3 - 1
    np.testing.assert_allclose(new_conv.get_weights()[1], [-1.8, 2.2, -1.9], rtol=1e-6)
    assert isinstance(folded.get_layer("bn"), FoldedBatchNorm)
    assert not folded.get_layer("bn").weights
    x = np.random.default_rng(0).normal(size=(2, 5, 4, 2)).astype("float32")
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)
    assert isinstance(model.get_layer("bn"), keras.layers.BatchNormalization)  # untouched


@pytest.mark.parametrize("name", DECODERS)
def test_every_decoder_folds_every_batchnorm_after_a_convolution_and_keeps_its_outputs(
        name, small_options, strides):
    keras.utils.set_random_seed(0)
    options = dict(small_options[name])
    if name == "unet_plus_plus":
        options["deep_supervision"] = True
    model = randomise_statistics(get_model(name, input_shape=(None, None, 3), **options))
    before = count(model, keras.layers.BatchNormalization)
    folded = fold_batchnorm(model)
    assert count(folded, FoldedBatchNorm) == before                  # all of them follow a conv
    assert count(folded, keras.layers.BatchNormalization) == 0
    assert count(model, keras.layers.BatchNormalization) == before   # the original is untouched
    size = 2 * strides[name]
    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-4)


@pytest.mark.parametrize("encoder, kept", [
    ("efficientnetb0", 0),     # depthwise convolutions, squeeze-excitation
    ("mobilenetv3small", 0),   # depthwise, hard-swish as graph operations
    ("resnet50v2", 17),        # pre-activation: a BN after an addition or the stem pooling
])
def test_encoders_fold_what_follows_a_convolution_and_keep_the_rest(encoder, kept):
    keras.utils.set_random_seed(0)
    model = randomise_statistics(get_model("unet", input_shape=(None, None, 3), filters=4,
                                           encoder=encoder))
    before = count(model, keras.layers.BatchNormalization)
    folded = fold_batchnorm(model)
    assert count(folded, keras.layers.BatchNormalization) == kept
    assert count(folded, FoldedBatchNorm) == before - kept
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-4)


def test_a_convolution_read_by_another_layer_too_is_left_alone():
    inputs = keras.Input((None, None, 1))
    features = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inputs)
    normalised = keras.layers.BatchNormalization(name="bn")(features)
    model = keras.Model(inputs, keras.layers.Add()([normalised, features]))
    assert fold_batchnorm(model) is model  # nothing folds: the model itself comes back


def test_a_convolution_that_is_also_an_output_is_left_alone():
    inputs = keras.Input((None, None, 1))
    features = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inputs)
    normalised = keras.layers.BatchNormalization(name="bn")(features)
    model = keras.Model(inputs, [normalised, features])
    assert fold_batchnorm(model) is model


def test_a_mixed_precision_model_is_left_alone_and_exports(tmp_path):
    from keras_seg.export import check_export, export_saved_model

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = randomise_statistics(get_model("unet", input_shape=(None, None, 3), filters=4,
                                               depth=2))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert fold_batchnorm(model) is model  # folding would round W s, not W, to bfloat16
    export_saved_model(model, str(tmp_path / "sm"))
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    assert check_export(model, str(tmp_path / "sm"), x) < 1e-4
