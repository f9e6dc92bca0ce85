"""Attention U-Net: one additive gate per skip connection."""

import keras
import numpy as np

from keras_seg.models import attention_unet, unet


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_gates_add_the_expected_parameters():
    # A gate on a skip with f channels and f/2 intermediate channels: W_x and W_g (f * f/2 each,
    # no bias), their BatchNorms (2 * f/2 each), psi (f/2 -> 1, no bias) and its BatchNorm (2).
    def gate(f):
        return f * f + 2 * f + f // 2 + 2

    extra = sum(gate(f) for f in (32, 64, 128, 256))
    assert extra == 88_248
    gated = attention_unet(input_shape=(256, 256, 3))
    assert _trainable(gated) == _trainable(unet(input_shape=(256, 256, 3))) + extra


def test_every_skip_is_gated_before_concatenation():
    model = attention_unet(filters=4, depth=3)
    for level in (1, 2, 3):
        apply = model.get_layer(f"attention_unet_dec{level}_gate_apply")
        concat = model.get_layer(f"attention_unet_dec{level}_concat")
        assert concat.input[0] is apply.output
        alpha = model.get_layer(f"attention_unet_dec{level}_gate_alpha")
        assert alpha.output.shape[-1] == 1


def test_gate_weights_are_between_zero_and_one():
    model = attention_unet(filters=4, depth=2)
    alphas = keras.Model(
        model.input, [model.get_layer(f"attention_unet_dec{k}_gate_alpha").output for k in (1, 2)]
    )
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype("float32")
    for alpha in alphas(x):
        alpha = keras.ops.convert_to_numpy(alpha)
        assert alpha.min() > 0.0 and alpha.max() < 1.0
