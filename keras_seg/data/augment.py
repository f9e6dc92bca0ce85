"""In-graph augmentation: geometric changes move image, mask and weights together; intensity
changes touch the image only.

Settings come from config ``data.augment``: ``true`` (the defaults below), ``false`` (none), or
a mapping whose keys override the defaults (keys left out keep their default):

=============================  ========  ==========================================================
key                            default   meaning
=============================  ========  ==========================================================
``flip``                       true      horizontal flip with probability 0.5 (the LGG reference)
``vertical_flip``              false     vertical flip with probability 0.5
``rotation``                   15        rotation by a uniform angle in [-r, r] degrees (reference)
``scale``                      0.05      zoom by a uniform factor in [1 - s, 1 + s] (reference)
``elastic``                    false     elastic deformation: true, or ``{magnitude: 4, spacing:
                                         32}`` (displacement std, control-point spacing; pixels)
``missing_sequence``           0         probability p that a slice loses sequences: one source
                                         channel is copied into each other channel with
                                         probability 0.5, at least one (a uniform non-empty
                                         subset); no-op with one channel
``missing_sequence_source``    null      the source channel index; null: uniform per slice
                                         (LGG: 0 pre-contrast, 1 FLAIR, 2 post-contrast; its
                                         missing sequences were replaced by FLAIR: 1)
``noise``                      0         with probability p, Gaussian noise of std uniform in
                                         [0, 0.1] (one std per slice)
``blur``                       0         with probability p, blur each channel with probability
                                         0.5 by a Gaussian of sigma uniform in [0.5, 1] pixels,
                                         drawn per channel and axis
``multiplicative_brightness``  0         with probability p, multiply each channel by a factor
                                         in [0.75, 1.25]
``contrast``                   0.1       scale about the image mean by a factor in [1 - c, 1 + c]
``low_resolution``             0         with probability p, each channel with probability 0.5
                                         is resampled to ``round(s * side)`` pixels (nearest)
                                         and back (bilinear), s uniform in [0.5, 1]
``inverted_gamma``             0         as ``gamma``, applied to the negated image
``gamma``                      0         with probability p, per channel: rescale to [0, 1],
                                         raise to a gamma in [0.7, 1.5], map back, restore the
                                         channel's mean and std
``brightness``                 0.1       add a uniform offset in [-b, b] (images are z-scored:
                                         units of one standard deviation)
=============================  ========  ==========================================================

The keys from ``missing_sequence`` on change the image only, in the order of the table, drawn
for each slice separately. Their probabilities lie in [0, 1] (``false`` = 0). Factors and
gammas are drawn as nnU-Net does: uniform below 1 or above 1, each half the time.

nnU-Net's default intensity augmentation (``nnUNetTrainer.get_training_transforms``) is
``{noise: 0.1, blur: 0.2, multiplicative_brightness: 0.15, low_resolution: 0.25,
inverted_gamma: 0.1, gamma: 0.3, brightness: 0, contrast: 0}``, except its contrast
(probability 0.15, per channel, factor in [0.75, 1.25], clipped to the channel's range), which
has no counterpart here (``contrast`` changes every slice, about the image mean, unclipped).
Smaller differences: nnU-Net v2 adds one noise field to all channels (here one per channel, as
nnU-Net v1; both take the "variance" range (0, 0.1) as the standard deviation), and cuts its
blur kernel at about 3 sigma (here at 4 pixels, scipy's ``truncate=4`` for sigma 1).

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
            "brightness": 0.1, "contrast": 0.1, "elastic": False, "missing_sequence": 0.0,
            "missing_sequence_source": None, "noise": 0.0, "blur": 0.0,
            "multiplicative_brightness": 0.0, "low_resolution": 0.0, "inverted_gamma": 0.0,
            "gamma": 0.0}
ELASTIC_DEFAULTS = {"magnitude": 4.0, "spacing": 32}
_OFF = {**DEFAULTS, "flip": False, "rotation": 0.0, "scale": 0.0, "brightness": 0.0,
        "contrast": 0.0}
PROBABILITIES = ("missing_sequence", "noise", "blur", "multiplicative_brightness",
                 "low_resolution", "inverted_gamma", "gamma")
# nnU-Net's ranges: noise std, blur sigma (pixels), brightness factor, low-resolution scale,
# gamma. BLUR_RADIUS covers 4 sigma of the widest blur.
RANGES = {"noise": (0.0, 0.1), "blur": (0.5, 1.0), "multiplicative_brightness": (0.75, 1.25),
          "low_resolution": (0.5, 1.0), "gamma": (0.7, 1.5)}
BLUR_RADIUS = 4


def _number(key: str, value, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
            upper is not None and value >= upper):
        bound = f" and < {upper}" if upper is not None else ""
        raise UserError(f"data.augment.{key} must be a number >= 0{bound}, got {value!r}")
    return float(value)


def _probability(key: str, value) -> float:
    if value is False:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise UserError(f"data.augment.{key} must be a probability in [0, 1] or false, got "
                        f"{value!r}")
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
    for key in PROBABILITIES:
        out[key] = _probability(key, out[key])
    source = out["missing_sequence_source"]
    if source is not None and (isinstance(source, bool) or not isinstance(source, int)
                               or source < 0):
        raise UserError("data.augment.missing_sequence_source must be a channel index (an "
                        f"integer >= 0) or null, got {source!r}")
    return out


def check_channels(cfg: dict, channels: int) -> None:
    """Refuse a ``missing_sequence_source`` that the images (``channels`` of them) lack."""
    source = cfg["missing_sequence_source"]
    if source is not None and source >= channels:
        raise UserError(f"data.augment.missing_sequence_source is {source}, but the images "
                        f"have {channels} channel(s): valid indices are 0 to {channels - 1}")


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



def _split(seed, n: int):
    return tf.random.experimental.stateless_split(seed, n)


def _chosen(seed, batch, channels: int, p: float, p_channel: float = 1.0) -> tf.Tensor:
    """(B, C) bool: slices drawn with probability ``p``, in them channels with ``p_channel``."""
    u = tf.random.stateless_uniform(tf.stack([batch, channels + 1]), seed)
    return (u[:, :1] < p) & (u[:, 1:] < p_channel)


def _factor(seed, shape, low: float, high: float) -> tf.Tensor:
    """nnU-Net's draw of a factor about 1: uniform in [low, 1] or [1, high], half the time each."""
    seeds = _split(seed, 2)
    u = tf.random.stateless_uniform(shape, seeds[0])
    below = tf.random.stateless_uniform(shape, seeds[1]) < 0.5
    return tf.where(below, low + u * (1.0 - low), 1.0 + u * (high - 1.0))


def _nonempty_subset(seed, batch, n: int) -> tf.Tensor:
    """(B, n) bool: each of n items in with probability 0.5, given that at least one is.

    While no earlier item is in, item k is in with probability 2^(m-1) / (2^m - 1), the share
    of the non-empty subsets of the m items from k on that hold item k; after that, 0.5.
    """
    u = tf.random.stateless_uniform(tf.stack([batch, n]), seed)
    taken, any_yet = [], tf.zeros([batch], tf.bool)
    for k in range(n):
        m = n - k
        take = u[:, k] < tf.where(any_yet, 0.5, 2.0 ** (m - 1) / (2.0 ** m - 1))
        taken.append(take)
        any_yet |= take
    return tf.stack(taken, axis=1)


def missing_sequence(images: tf.Tensor, seed, p: float, source: int | None) -> tf.Tensor:
    """With probability ``p`` per slice, copy a source channel over a non-empty random subset
    of the other channels (each with probability 0.5); ``source`` None draws it per slice."""
    channels = images.shape[-1]
    if channels < 2:
        return images
    batch = tf.shape(images)[0]
    seeds = _split(seed, 3)
    hit = tf.random.stateless_uniform([batch], seeds[0]) < p
    src = (tf.fill([batch], source) if source is not None else
           tf.random.stateless_uniform([batch], seeds[1], 0, channels, dtype=tf.int32))[:, None]
    # The others of a slice in channel order, then a never-taken slot for the source itself.
    targets = tf.pad(_nonempty_subset(seeds[2], batch, channels - 1), [[0, 0], [0, 1]])
    channel = tf.range(channels)[None]
    slot = tf.where(channel == src, channels - 1, channel - tf.cast(channel > src, tf.int32))
    copy = hit[:, None] & tf.gather(targets, slot, batch_dims=1)
    plane = tf.gather(images, src[:, 0], axis=3, batch_dims=1)[..., None]
    return tf.where(copy[:, None, None, :], plane, images)


def gaussian_blur(images: tf.Tensor, sigmas: tf.Tensor) -> tf.Tensor:
    """Blur each channel of (B, H, W, C) by a separable Gaussian of ``sigmas`` (B, C, 2) =
    (rows, columns) pixels; 0 leaves an axis as it is. The kernel reaches ``BLUR_RADIUS``
    pixels; borders reflect (scipy's ``mode="reflect"``)."""
    x = tf.transpose(images, [0, 3, 1, 2])
    for axis in (2, 3):
        size = x.shape[axis]
        radius = min(BLUR_RADIUS, size)
        offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
        sigma = tf.maximum(sigmas[..., axis - 2, None], 1e-6)
        weights = tf.exp(-0.5 * tf.square(offsets / sigma))
        weights /= tf.reduce_sum(weights, axis=-1, keepdims=True)
        pad = [[0, 0]] * 4
        pad[axis] = [radius, radius]
        padded = tf.pad(x, pad, mode="SYMMETRIC")
        x = tf.add_n([weights[:, :, k, None, None] *
                      (padded[:, :, k:k + size] if axis == 2 else padded[..., k:k + size])
                      for k in range(2 * radius + 1)])
    return tf.transpose(x, [0, 2, 3, 1])


def _nearest(k: tf.Tensor, m: tf.Tensor, n: int) -> tf.Tensor:
    """The pixel of a side of n that pixel k of its nearest-neighbour resampling to m took."""
    return tf.cast(tf.minimum(tf.floor((k + 0.5) * n / m), n - 1), tf.int32)


def low_resolution(images: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
    """Resample each channel of (B, H, W, C) to ``round(scale * side)`` pixels by nearest
    neighbour and back by bilinear interpolation, ``scales`` (B, C) in (0, 1]; 1 keeps the
    channel. Half-pixel centres, as torch's ``nearest-exact`` and ``bilinear`` (nnU-Net)."""
    x = tf.transpose(images, [0, 3, 1, 2])
    for axis in (2, 3):
        n = x.shape[axis]
        m = tf.maximum(tf.round(scales * n), 1.0)[..., None]
        src = tf.maximum((tf.range(n, dtype=tf.float32) + 0.5) * m / n - 0.5, 0.0)
        low = tf.floor(src)
        a = tf.gather(x, _nearest(low, m, n), axis=axis, batch_dims=2)
        b = tf.gather(x, _nearest(tf.minimum(low + 1, m - 1), m, n), axis=axis, batch_dims=2)
        frac = src - low
        x = a + (b - a) * (frac[..., None] if axis == 2 else frac[..., None, :])
    return tf.transpose(x, [0, 2, 3, 1])


def gamma(images: tf.Tensor, gammas: tf.Tensor, invert: bool = False) -> tf.Tensor:
    """nnU-Net's gamma per channel of (B, H, W, C), ``gammas`` (B, C): rescale to [0, 1],
    raise to the gamma, map back, then restore the channel's mean and std. ``invert`` does
    it to the negated image."""
    x = -images if invert else images
    low = tf.reduce_min(x, axis=[1, 2], keepdims=True)
    span = tf.reduce_max(x, axis=[1, 2], keepdims=True) - low
    mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    y = tf.pow((x - low) / tf.maximum(span, 1e-7), gammas[:, None, None, :]) * span + low
    y_mean, y_var = tf.nn.moments(y, axes=[1, 2], keepdims=True)
    y = (y - y_mean) * (tf.sqrt(var) / tf.maximum(tf.sqrt(y_var), 1e-7)) + mean
    return -y if invert else y


def adjust_intensity(images: tf.Tensor, seed, cfg: dict) -> tf.Tensor:
    """The image-only changes of ``cfg`` to (B, H, W, C), in the order of the module table."""
    batch, channels = tf.shape(images)[0], images.shape[-1]
    seeds = _split(seed, 9)
    if cfg["missing_sequence"]:
        images = missing_sequence(images, seeds[2], cfg["missing_sequence"],
                                  cfg["missing_sequence_source"])
    if cfg["noise"]:
        s = _split(seeds[3], 3)
        on = _chosen(s[0], batch, 1, cfg["noise"])[:, :, None, None]
        std = tf.random.stateless_uniform([batch, 1, 1, 1], s[1], *RANGES["noise"])
        images += tf.where(on, std, 0.0) * tf.random.stateless_normal(tf.shape(images), s[2])
    if cfg["blur"]:
        s = _split(seeds[4], 2)
        on = _chosen(s[0], batch, channels, cfg["blur"], 0.5)[..., None]
        sigmas = tf.random.stateless_uniform(tf.stack([batch, channels, 2]), s[1],
                                             *RANGES["blur"])
        images = gaussian_blur(images, tf.where(on, sigmas, 0.0))
    if cfg["multiplicative_brightness"]:
        s = _split(seeds[5], 2)
        on = _chosen(s[0], batch, channels, cfg["multiplicative_brightness"])
        factor = _factor(s[1], tf.stack([batch, channels]), *RANGES["multiplicative_brightness"])
        images *= tf.where(on, factor, 1.0)[:, None, None, :]
    if cfg["contrast"]:
        factor = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0], 1.0 - cfg["contrast"],
                                             1.0 + cfg["contrast"])
        mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        images = (images - mean) * factor + mean
    if cfg["low_resolution"]:
        s = _split(seeds[6], 2)
        on = _chosen(s[0], batch, channels, cfg["low_resolution"], 0.5)
        scales = tf.random.stateless_uniform(tf.stack([batch, channels]), s[1],
                                             *RANGES["low_resolution"])
        images = low_resolution(images, tf.where(on, scales, 1.0))
    for key, seed_k, invert in (("inverted_gamma", seeds[7], True), ("gamma", seeds[8], False)):
        if cfg[key]:
            s = _split(seed_k, 2)
            on = _chosen(s[0], batch, channels, cfg[key])[:, None, None, :]
            gammas = _factor(s[1], tf.stack([batch, channels]), *RANGES["gamma"])
            images = tf.where(on, gamma(images, gammas, invert), images)
    if cfg["brightness"]:
        images += tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1], -cfg["brightness"],
                                              cfg["brightness"])
    return images
