"""Built-in synthetic data set: LGG-like lesion segmentation in miniature.

Each volume is a stack of slices of a textured, noisy "head" in three channels (think
pre-contrast, FLAIR, post-contrast). Every volume holds one to three lesions: irregular
ellipsoids that continue across neighbouring slices, growing and shrinking, bright in the
FLAIR-like channel with a contrast that varies from lesion to lesion. Slices outside the
lesions' extent are empty, as most LGG slices are. Bright *distractor* blobs of the same
FLAIR intensity (but also bright in the first channel) and a texture whose amplitude
overlaps the lesion contrast mean that no intensity threshold solves the task: the model
must combine channels and shape.

The generator is deterministic: the same ``seed`` gives the same bytes.
"""

from __future__ import annotations

import numpy as np

from keras_seg.data.geometry import Geometry
from keras_seg.data.plan import Plan, VolumeTask
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

# Config defaults of this data set (keras_seg.data.defaults): the synthetic job is sized for a
# 2-core CPU: 16 filters, 128 pixels, 4 of its 24 volumes validate.
DEFAULTS = {"model": {"filters": 16}, "data": {"image_size": 128, "val_volumes": 4}}


def _smooth_noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Zero-mean, unit-std noise smoothed to features of about ``scale`` pixels."""
    coarse = rng.standard_normal((size // scale + 2, size // scale + 2))
    # Bilinear upsampling of a coarse grid gives cheap, smooth texture.
    grid = np.linspace(0, coarse.shape[0] - 2, size)
    i0 = np.floor(grid).astype(int)
    t = grid - i0
    rows = coarse[i0] * (1 - t)[:, None] + coarse[i0 + 1] * t[:, None]
    out = rows[:, i0] * (1 - t)[None, :] + rows[:, i0 + 1] * t[None, :]
    return (out - out.mean()) / (out.std() + 1e-8)


def _blob(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float, rx: float,
          angle: float, wobble: np.ndarray) -> np.ndarray:
    """Signed radial distance (<1 inside) of an irregular rotated ellipse."""
    dy, dx = yy - cy, xx - cx
    cos, sin = np.cos(angle), np.sin(angle)
    u = (dx * cos + dy * sin) / rx
    v = (-dx * sin + dy * cos) / ry
    theta = np.arctan2(v, u)
    radius = 1.0 + sum(a * np.sin(k * theta + p) for k, (a, p) in enumerate(wobble, start=2))
    return np.sqrt(u * u + v * v) / radius


def generate(num_volumes: int = 24, slices_per_volume: int = 8, image_size: int = 128,
             seed: int = 0) -> SliceSet:
    """Generate the synthetic set.

    Args:
        num_volumes: number of volumes (patients).
        slices_per_volume: slices in each volume.
        image_size: side of the square slices, in pixels.
        seed: random seed; the output is a pure function of the arguments.

    Returns:
        A ``SliceSet`` with float32 images (N, S, S, 3), z-scored per volume and channel,
        and uint8 masks (N, S, S, 1) of 0/1, N = num_volumes * slices_per_volume.
    """
    rng = np.random.default_rng(seed)
    s = image_size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    images = np.zeros((num_volumes, slices_per_volume, s, s, 3), np.float32)
    masks = np.zeros((num_volumes, slices_per_volume, s, s), np.uint8)
    for v in range(num_volumes):
        head_ry, head_rx = s * rng.uniform(0.36, 0.46), s * rng.uniform(0.32, 0.42)
        lesions = []
        for _ in range(rng.integers(1, 4)):
            lesions.append(dict(
                cy=s / 2 + rng.uniform(-0.2, 0.2) * s, cx=s / 2 + rng.uniform(-0.2, 0.2) * s,
                cz=rng.uniform(0, slices_per_volume - 1), rz=rng.uniform(1.2, 3.5),
                ry=s * rng.uniform(0.04, 0.13), rx=s * rng.uniform(0.04, 0.13),
                angle=rng.uniform(0, np.pi), contrast=rng.uniform(0.8, 1.6),
                wobble=np.stack([rng.uniform(0, 0.15, 3), rng.uniform(0, 2 * np.pi, 3)], 1)))
        distractors = [dict(cy=s / 2 + rng.uniform(-0.25, 0.25) * s,
                            cx=s / 2 + rng.uniform(-0.25, 0.25) * s,
                            cz=rng.uniform(0, slices_per_volume - 1), rz=rng.uniform(1.0, 3.0),
                            r=s * rng.uniform(0.03, 0.08))
                       for _ in range(rng.integers(1, 4))]
        for z in range(slices_per_volume):
            head = (((yy - s / 2) / head_ry) ** 2 + ((xx - s / 2) / head_rx) ** 2) < 1.0
            texture = 0.5 * _smooth_noise(rng, s, 16) + 0.3 * _smooth_noise(rng, s, 4)
            tissue = head * (1.0 + 0.35 * texture)
            chans = [tissue * w for w in (0.8, 1.0, 0.9)]
            mask = np.zeros((s, s), bool)
            for les in lesions:
                frac = 1.0 - ((z - les["cz"]) / les["rz"]) ** 2
                if frac <= 0.05:
                    continue
                scale = np.sqrt(frac)
                d = _blob(yy, xx, les["cy"], les["cx"], les["ry"] * scale, les["rx"] * scale,
                          les["angle"], les["wobble"])
                inside = (d < 1.0) & head
                mask |= inside
                # Soft-edged enhancement, strongest in the FLAIR-like channel.
                profile = np.clip(1.3 - d, 0.0, 1.0) * les["contrast"] * head
                chans[1] = chans[1] + 0.55 * profile
                chans[2] = chans[2] + 0.25 * profile * rng.uniform(0.0, 1.0)
            for dis in distractors:
                frac = 1.0 - ((z - dis["cz"]) / dis["rz"]) ** 2
                if frac <= 0.05:
                    continue
                r = dis["r"] * np.sqrt(frac)
                d = np.sqrt((yy - dis["cy"]) ** 2 + (xx - dis["cx"]) ** 2) / r
                profile = np.clip(1.3 - d, 0.0, 1.0) * head * rng.uniform(0.8, 1.4)
                chans[0] = chans[0] + 0.6 * profile
                chans[1] = chans[1] + 0.55 * profile
            img = np.stack(chans, -1) + rng.normal(0, 0.12, (s, s, 3))
            images[v, z] = img
            masks[v, z] = mask
    # z-score per volume and channel, as the LGG reference preprocessing does.
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    std = images.std(axis=(1, 2, 3), keepdims=True) + 1e-6
    images = (images - mean) / std
    n = num_volumes * slices_per_volume
    return SliceSet(
        images=images.reshape(n, s, s, 3).astype(np.float32),
        masks=masks.reshape(n, s, s, 1),
        volume_ids=np.repeat([f"synthetic_{v:03d}" for v in range(num_volumes)],
                             slices_per_volume),
        slice_index=np.tile(np.arange(1, slices_per_volume + 1), num_volumes),
        geometry=[Geometry.identity("synthetic", (s, s), index=z)
                  for _ in range(num_volumes) for z in range(slices_per_volume)],
    )


def plan(data_dir: str | None = None, image_size: int | None = None, seed: int = 0, *,
         num_volumes: int = 24, slices_per_volume: int = 8) -> Plan:
    """The synthetic set as a plan: generated once, delivered volume by volume."""
    data = load(data_dir, image_size, seed, num_volumes=num_volumes,
                slices_per_volume=slices_per_volume)
    return Plan([VolumeTask(v, (), lambda v=v: data.select_volumes([v])) for v in data.volumes],
                patch_size=None, size_hint="",
                options={"reader": "synthetic", "seed": seed, "num_volumes": num_volumes,
                         "slices_per_volume": slices_per_volume, "image_size": image_size})


def load(data_dir: str | None = None, image_size: int | None = None, seed: int = 0, *,
         num_volumes: int = 24, slices_per_volume: int = 8) -> SliceSet:
    """The synthetic set as a data set: no folder; ``image_size`` defaults to 128."""
    if data_dir is not None:
        raise UserError(f"the synthetic data set reads no folder, but --data-dir {data_dir} "
                        "was given")
    return generate(num_volumes, slices_per_volume, image_size or 128, seed)
