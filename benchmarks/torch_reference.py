"""Throughput of the PyTorch U-Net our users come from, as their kit runs it on a CPU.

The reference of docs/protocols.md section 1, written here from its description: U-Net with 32
initial features and 4 levels, (Conv3x3 without bias - BatchNorm - ReLU) x 2 per block, 2x2 max
pooling, 2x2 stride-2 transposed convolutions, skip concatenation, 1x1 convolution + sigmoid head
(7,763,041 parameters); soft Dice loss pooled over the batch (smooth 1); Adam.

Measured the way the kit runs: eager mode, NCHW tensors, PyTorch's default thread count.

- ``train_img_per_s``: ``zero_grad``, forward, Dice loss, ``backward``, ``Adam.step`` on
  in-memory batches (no DataLoader, no augmentation: the data cost is left out, which favours
  PyTorch against the Keras side's tf.data pipeline).
- ``infer_img_per_s``: eager ``model.eval()`` forward under ``torch.no_grad()``, as the kit's
  inference script runs it.
- ``serve_img_per_s``: ``torch.jit.trace`` + ``torch.jit.freeze`` of the eval model (BatchNorm
  folded into the convolutions), called under ``torch.inference_mode()``: the optimised
  deployable artefact, the counterpart of our SavedModel.

``--memory-format channels_last`` runs the same in NHWC memory layout (an extra figure: the kit
does not do this). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import time

import numpy as np
import torch
from torch import nn


def conv_block(in_channels: int, features: int) -> nn.Sequential:
    """(Conv3x3 without bias - BatchNorm - ReLU) x 2."""
    return nn.Sequential(
        nn.Conv2d(in_channels, features, 3, padding=1, bias=False),
        nn.BatchNorm2d(features),
        nn.ReLU(inplace=True),
        nn.Conv2d(features, features, 3, padding=1, bias=False),
        nn.BatchNorm2d(features),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """The reference U-Net: ``depth`` poolings, ``features * 2**k`` channels at level k."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, features: int = 32,
                 depth: int = 4):
        super().__init__()
        widths = [features * 2**k for k in range(depth + 1)]
        self.encoders = nn.ModuleList()
        previous = in_channels
        for width in widths[:-1]:
            self.encoders.append(conv_block(previous, width))
            previous = width
        self.pool = nn.MaxPool2d(2, 2)
        self.bottleneck = conv_block(widths[-2], widths[-1])
        self.upconvs = nn.ModuleList(
            nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2) for k in range(depth))
        self.decoders = nn.ModuleList(conv_block(2 * widths[k], widths[k]) for k in range(depth))
        self.head = nn.Conv2d(features, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for k in reversed(range(len(skips))):
            x = self.upconvs[k](x)
            x = self.decoders[k](torch.cat((x, skips[k]), dim=1))
        return torch.sigmoid(self.head(x))


def soft_dice_loss(probs: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - (2 sum(p y) + s) / (sum(p) + sum(y) + s), sums pooled over the whole batch."""
    intersection = (probs * target).sum()
    return 1.0 - (2.0 * intersection + smooth) / (probs.sum() + target.sum() + smooth)


def images_per_second(step, batch_size: int, steps: int, warmup: int) -> tuple[float, float]:
    """Run ``step`` ``warmup`` times untimed, then ``steps`` times timed.

    Returns images per wall-clock second and per second of process CPU time.
    """
    for _ in range(warmup):
        step()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    images = batch_size * steps
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def random_batch(batch_size: int, image_size: int, channels: int, seed: int):
    """A float32 image batch and a 0/1 mask batch with about 10 % foreground, NCHW."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, channels, image_size, image_size), dtype=np.float32)
    y = (rng.random((batch_size, 1, image_size, image_size)) < 0.1).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def measure(args: argparse.Namespace) -> dict:
    """Train, infer and serve throughput of the reference U-Net for ``args``."""
    torch.manual_seed(args.seed)
    memory_format = (torch.channels_last if args.memory_format == "channels_last"
                     else torch.contiguous_format)
    model = UNet(args.channels, 1, args.filters, args.depth).to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    x, y = random_batch(args.batch_size, args.image_size, args.channels, args.seed)
    x, y = x.contiguous(memory_format=memory_format), y.contiguous(memory_format=memory_format)

    def autocast():
        """bfloat16 autocast (``--bf16``: the tuned user's setting) or nothing."""
        return (torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16
                else contextlib.nullcontext())

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = soft_dice_loss(model(x).float(), y)
        loss.backward()
        optimizer.step()

    model.train()
    train, train_cpu = images_per_second(train_step, args.batch_size, args.steps, args.warmup)

    model.eval()

    def infer_step():
        with torch.no_grad(), autocast():
            model(x)

    infer, _ = images_per_second(infer_step, args.batch_size, args.infer_steps, 1)

    with torch.no_grad(), autocast():
        served = torch.jit.freeze(torch.jit.trace(model, x, check_trace=not args.bf16))

    def serve_step():
        with torch.inference_mode(), autocast():
            served(x)

    serve, _ = images_per_second(serve_step, args.batch_size, args.infer_steps, 2)
    return {
        "framework": "pytorch",
        "model": "unet",
        "train_img_per_s": round(train, 3),
        "infer_img_per_s": round(infer, 3),
        "serve_img_per_s": round(serve, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "train_img_per_cpu_s": round(train_cpu, 3),
        "settings": {
            "filters": args.filters, "depth": args.depth, "batch_size": args.batch_size,
            "image_size": args.image_size, "channels": args.channels,
            "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "steps": args.steps, "warmup": args.warmup, "infer_steps": args.infer_steps,
            "memory_format": args.memory_format, "bf16_autocast": args.bf16,
            "threads": torch.get_num_threads(),
            "train": "eager: zero_grad, forward, soft Dice (batch-pooled), backward, Adam.step",
            "infer": "eager model.eval() under torch.no_grad()",
            "serve": "torch.jit.trace + torch.jit.freeze under torch.inference_mode()",
            "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument("--infer-steps", type=int, default=5, help="timed inference batches")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-format", choices=("contiguous", "channels_last"),
                        default="contiguous", help="contiguous = NCHW, as the kit runs")
    parser.add_argument("--bf16", action="store_true",
                        help="train, infer and serve under torch.autocast('cpu', bfloat16)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(measure(parse_args(argv))))


if __name__ == "__main__":
    main()
