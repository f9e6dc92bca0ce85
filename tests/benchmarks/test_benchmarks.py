"""The arithmetic behind the benchmark figures: FLOP counts, throughput, the PyTorch reference."""

from __future__ import annotations

import keras
import pytest
from benchmark_scripts import load_benchmark

throughput = load_benchmark("throughput")


def test_forward_conv_flops_of_a_hand_sized_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 2 * 8*8 * 3*3 * 3 * 4 = 13,824
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)  # 2 * 4*4 * 9 * 4 * 4 = 4,608
    x = keras.layers.Conv2DTranspose(2, 2, strides=2)(x)  # 2 * 4*4 (input) * 2*2 * 4 * 2 = 1,024
    x = keras.layers.BatchNormalization()(x)  # not counted
    model = keras.Model(inputs, x)
    assert throughput.forward_conv_flops(model) == 13_824 + 4_608 + 1_024


def unet_forward_flops(size: int, channels: int, filters: int, depth: int) -> int:
    """The reference U-Net's convolution FLOPs, level by level from its description."""
    total, c_in = 0, channels
    for level in range(depth + 1):  # encoder levels, then the bottleneck
        r, w = size // 2**level, filters * 2**level
        total += 2 * r * r * 9 * (c_in * w + w * w)
        c_in = w
    for level in range(depth):  # decoder levels
        r, w = size // 2**level, filters * 2**level
        total += 2 * (r // 2) ** 2 * 4 * (2 * w) * w  # 2x2 stride-2 transposed conv
        total += 2 * r * r * 9 * (2 * w * w + w * w)
    return total + 2 * size * size * filters * 1  # 1x1 head


def test_forward_conv_flops_of_the_reference_unet():
    model = throughput.get_model("unet", input_shape=(256, 256, 3), filters=32)
    expected = unet_forward_flops(256, 3, 32, 4)
    assert throughput.forward_conv_flops(model) == expected
    assert round(expected / 1e9, 2) == 24.14


def test_images_per_second_skips_the_warmup_steps():
    # Steps end at 10, 11, 13, 16 s; the 3 steps after the warm-up one ran from 10 s to 16 s.
    assert throughput.images_per_second([10.0, 11.0, 13.0, 16.0], 3, warmup=1) == 1.5
    assert throughput.images_per_second([10.0, 11.0, 13.0, 16.0], 3, warmup=2) == 1.2


def test_torch_reference_unet_has_the_kit_parameter_count():
    torch = pytest.importorskip("torch")
    reference = load_benchmark("torch_reference")
    model = reference.UNet(3, 1, 32, 4)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 7_763_041
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 32, 32)


@pytest.mark.parametrize(
    ("probs", "target", "expected"),
    [
        ([1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], 0.0),  # perfect: 1 - (4+1)/(2+2+1)
        ([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], 0.0),  # both empty: 1 - 1/1
        ([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], 1.0 - 1.0 / 3.0),  # disjoint: 1 - 1/(1+1+1)
        ([0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], 1.0 - 2.0 / 3.0),  # 1 - (1+1)/(1+1+1)
    ],
)
def test_torch_soft_dice_loss_pools_the_batch(probs, target, expected):
    torch = pytest.importorskip("torch")
    reference = load_benchmark("torch_reference")
    # Two images of two pixels each: the sums run over the whole batch.
    p = torch.tensor(probs).reshape(2, 1, 1, 2)
    y = torch.tensor(target).reshape(2, 1, 1, 2)
    assert float(reference.soft_dice_loss(p, y)) == pytest.approx(expected)
