"""In-graph augmentation, applied identically to image, mask and weights.

Settings come from config ``data.augment``: ``true`` (the defaults below), ``false`` (none), or
a mapping whose keys override the defaults (keys left out keep their default):

=================  ========  ===========================================================
key                default   meaning
=================  ========  ===========================================================
``flip``           true      horizontal flip with probability 0.5 (the LGG reference)
``vertical_flip``  false     vertical flip with probability 0.5
``rotation``       15        rotation by a uniform angle in [-r, r] degrees (reference)
``scale``          0.05      zoom by a uniform factor in [1 - s, 1 + s] (reference)
``brightness``     0.1       add a uniform offset in [-b, b] (images are z-scored: units of
                             one standard deviation); image only
``contrast``       0.1       scale about the image mean by a factor in [1 - c, 1 + c];
                             image only
``elastic``        false     elastic deformation: true, or ``{magnitude: 4, spacing: 32}``
                             (displacement std in pixels, control-point spacing in pixels)
=================  ========  ===========================================================

Flip, rotation, scale and the crop of a training patch are one affine matrix per slice,
applied with ``ImageProjectiveTransformV3``: bilinear for the image, nearest for mask and
weights, reflecting at the borders. With ``elastic``, a smooth random displacement (bicubic
upsampling of random control-point displacements) is composed with that matrix and the result
is sampled once with ``keras.ops.image.map_coordinates`` (linear for the image, nearest for
mask and weights). Every random number is drawn from a stateless generator with an explicit
seed.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keras_seg.errors import UserError

DEFAULTS = {"flip": True, "vertical_flip": False, "rotation": 15.0, "scale": 0.05,
            "brightness": 0.1, "contrast": 0.1, "elastic": False}
ELASTIC_DEFAULTS = {"magnitude": 4.0, "spacing": 32}
_OFF = {"flip": False, "vertical_flip": False, "rotation": 0.0, "scale": 0.0,
        "brightness": 0.0, "contrast": 0.0, "elastic": False}


def _number(key: str, value, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
            upper is not None and value >= upper):
        bound = f" and < {upper}" if upper is not None else ""
        raise UserError(f"data.augment.{key} must be a number >= 0{bound}, got {value!r}")
    return float(value)


def settings(augment: bool | dict | None) -> dict:
    """Resolve config ``data.augment`` into a complete settings dict (see the module doc)."""
    if augment is None or augment is False:
        return dict(_OFF)
    if augment is True:
        augment = {}
    if not isinstance(augment, dict):
        raise UserError(f"data.augment must be true, false or a mapping, got {augment!r}")
    unknown = sorted(set(augment) - set(DEFAULTS))
    if unknown:
        raise UserError(f"unknown augmentation '{unknown[0]}'; valid: {', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **augment}
    for key in ("flip", "vertical_flip"):
        if not isinstance(out[key], bool):
            raise UserError(f"data.augment.{key} must be true or false, got {out[key]!r}")
    out["rotation"] = _number("rotation", out["rotation"])
    out["scale"] = _number("scale", out["scale"], 1.0)
    out["brightness"] = _number("brightness", out["brightness"])
    out["contrast"] = _number("contrast", out["contrast"], 1.0)
    elastic = out["elastic"]
    if elastic is True:
        elastic = dict(ELASTIC_DEFAULTS)
    elif isinstance(elastic, dict):
        unknown = sorted(set(elastic) - set(ELASTIC_DEFAULTS))
        if unknown:
            raise UserError(f"unknown elastic setting '{unknown[0]}'; valid: "
                            f"{', '.join(ELASTIC_DEFAULTS)}")
        elastic = {**ELASTIC_DEFAULTS, **elastic}
        elastic["magnitude"] = _number("elastic.magnitude", elastic["magnitude"])
        if _number("elastic.spacing", elastic["spacing"]) < 2:
            raise UserError("data.augment.elastic.spacing must be >= 2 pixels")
    elif elastic is not False:
        raise UserError(f"data.augment.elastic must be true, false or a mapping, got "
                        f"{elastic!r}")
    out["elastic"] = elastic
    return out


def is_geometric(cfg: dict) -> bool:
    """Whether ``cfg`` moves pixels (so masks must be warped too)."""
    return bool(cfg["flip"] or cfg["vertical_flip"] or cfg["rotation"] or cfg["scale"]
                or cfg["elastic"])


def affine_transforms(seed, batch: tf.Tensor, out_size: tuple[int, int], offsets: tf.Tensor,
                      cfg: dict) -> tf.Tensor:
    """Per-slice projective transforms (B, 8) mapping output pixels to input pixels.

    The output window of ``out_size`` = (height, width) is centred on the input window of the
    same size at ``offsets`` (B, 2) = (row, column); about that centre the content is flipped,
    rotated and zoomed. Without random parts the transform is the plain crop.
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)
    zeros = tf.zeros([batch])

    def coin(s, on):
        if not on:
            return tf.ones([batch])
        return tf.where(tf.random.stateless_uniform([batch], s) < 0.5, -1.0, 1.0)

    angle = zeros if not cfg["rotation"] else tf.random.stateless_uniform(
        [batch], seeds[0], -cfg["rotation"], cfg["rotation"]) * (math.pi / 180.0)
    zoom = tf.ones([batch]) if not cfg["scale"] else tf.random.stateless_uniform(
        [batch], seeds[1], 1.0 - cfg["scale"], 1.0 + cfg["scale"])
    fx, fy = coin(seeds[2], cfg["flip"]), coin(seeds[3], cfg["vertical_flip"])
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    m00, m01, m10, m11 = cos * fx, -sin * fy, sin * fx, cos * fy
    out_h, out_w = out_size
    cy_out, cx_out = (out_h - 1) / 2.0, (out_w - 1) / 2.0
    offsets = tf.cast(offsets, tf.float32)
    cy_in, cx_in = offsets[:, 0] + cy_out, offsets[:, 1] + cx_out
    return tf.stack([m00, m01, cx_in - m00 * cx_out - m01 * cy_out,
                     m10, m11, cy_in - m10 * cx_out - m11 * cy_out, zeros, zeros], axis=1)


def warp(images: tf.Tensor, transforms: tf.Tensor, out_size: tuple[int, int],
         interpolation: str) -> tf.Tensor:
    """Apply (B, 8) projective transforms to float32 (B, H, W, C), reflecting at borders."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant(out_size, tf.int32),
        fill_value=tf.constant(0.0), interpolation=interpolation, fill_mode="REFLECT")


def elastic_coordinates(seed, transforms: tf.Tensor, shape, magnitude: float, spacing: float
                        ) -> tf.Tensor:
    """Input (row, column) to sample for each output pixel (B, H, W, 2): elastic, then affine.

    Each output pixel is displaced by a smooth random field (control points ``spacing``
    pixels apart, displacement std ``magnitude`` pixels, bicubic in between), then mapped
    through ``transforms`` (B, 8), so the whole deformation is sampled once.
    """
    batch, height, width = shape
    grid = (math.ceil(height / spacing) + 1, math.ceil(width / spacing) + 1)
    control = tf.random.stateless_normal(tf.stack([batch, grid[0], grid[1], 2]), seed)
    field = tf.image.resize(control * magnitude, (height, width), method="bicubic")
    rows, cols = tf.meshgrid(tf.range(height, dtype=tf.float32),
                             tf.range(width, dtype=tf.float32), indexing="ij")
    rows, cols = rows[None] + field[..., 0], cols[None] + field[..., 1]
    t = transforms[:, :, None, None]
    return tf.stack([t[:, 3] * cols + t[:, 4] * rows + t[:, 5],
                     t[:, 0] * cols + t[:, 1] * rows + t[:, 2]], axis=-1)


def sample(images: tf.Tensor, coords: tf.Tensor, order: int) -> tf.Tensor:
    """Sample (B, H, W, C) at (row, column) ``coords`` (B, H', W', 2) -> (B, H', W', C).

    ``order`` 1 interpolates linearly, 0 takes the nearest pixel; borders reflect. Each
    channel is sampled as a 2D image (H, W, C, H' and W' must be static).
    """
    height, width, channels = images.shape[1:]
    out_h, out_w = coords.shape[1:3]
    planes = tf.reshape(tf.transpose(images, [0, 3, 1, 2]), [-1, height, width])
    points = tf.reshape(tf.repeat(coords[:, None], channels, axis=1), [-1, out_h, out_w, 2])

    def one(args):
        plane, point = args
        return keras.ops.image.map_coordinates(plane, tf.unstack(point, axis=-1), order=order,
                                               fill_mode="reflect")

    out = tf.map_fn(one, (planes, points), fn_output_signature=images.dtype)
    return tf.transpose(tf.reshape(out, [-1, channels, out_h, out_w]), [0, 2, 3, 1])


def adjust_intensity(images: tf.Tensor, seed, brightness: float, contrast: float) -> tf.Tensor:
    """Random contrast about each image's mean, then a random brightness offset."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    if contrast:
        factor = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0], 1.0 - contrast,
                                             1.0 + contrast)
        mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        images = (images - mean) * factor + mean
    if brightness:
        images += tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1], -brightness,
                                              brightness)
    return images
