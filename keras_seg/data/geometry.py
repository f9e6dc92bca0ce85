"""Where each slice came from, and how to map a prediction back onto the source's pixel grid.

A reader turns a slice of a file into the array the model sees in three steps, each recorded in
the slice's :class:`Geometry`:

1. **crop**: keep the box ``crop = (top, left, height, width)`` of the source slice (LGG's
   ``crop_to_brain``; the whole slice otherwise);
2. **pad**: add ``pad = (top, bottom, left, right)`` zero rows and columns around the crop (LGG
   pads the brain box to a square);
3. **resize**: bilinearly resample the padded crop to ``size = (h, w)`` (images; masks by nearest
   neighbour).

:func:`to_native` undoes them in reverse order for class probabilities: resample bilinearly to the
padded crop's size, drop the padding, and paste the crop into the source's ``(H0, W0)`` grid.
Pixels outside the crop get the background probability (see ``fill``). Threshold afterwards.

The stride padding that whole-image evaluation and prediction add (keras_seg.data.padding) is
not part of the geometry: it is removed with ``padding.unpad`` before :func:`to_native`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_seg.data.resize import resize_image


@dataclasses.dataclass(frozen=True)
class Geometry:
    """How one slice was derived from its source file.

    Attributes:
        source: path of the image file the slice was read from (for NIfTI, the first channel's
            file).
        shape: ``(H0, W0)`` of the slice in the source file.
        crop: ``(top, left, height, width)`` of the kept box in the source slice.
        pad: ``(top, bottom, left, right)`` zero rows/columns added around the crop.
        size: ``(h, w)`` of the slice as the reader delivers it (after resizing).
        index: position of the slice in its source file: 0 for 2D images, the index along
            ``axis`` for a slice of a 3D volume.
        axis: the axis a 3D volume was sliced along, None for 2D images.
        spacing: ``(row, column)`` pixel spacing of the source grid in mm, None if unknown.
    """

    source: str
    shape: tuple[int, int]
    crop: tuple[int, int, int, int]
    pad: tuple[int, int, int, int]
    size: tuple[int, int]
    index: int = 0
    axis: int | None = None
    spacing: tuple[float, float] | None = None

    @classmethod
    def identity(cls, source: str, shape: tuple[int, int], **extra) -> Geometry:
        """A slice delivered as stored: no crop, no padding, no resizing."""
        h, w = (int(s) for s in shape)
        return cls(source, (h, w), (0, 0, h, w), (0, 0, 0, 0), (h, w), **extra)

    @property
    def padded_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the crop after padding, before resizing."""
        top, bottom, left, right = self.pad
        return self.crop[2] + top + bottom, self.crop[3] + left + right

    def cropped(self, crop: tuple[int, int, int, int], pad: tuple[int, int, int, int]
                ) -> Geometry:
        """This (uncropped, unresized) geometry with a crop box and padding applied."""
        top, left, height, width = (int(v) for v in crop)
        pad = tuple(int(v) for v in pad)
        return dataclasses.replace(self, crop=(top, left, height, width), pad=pad,
                                   size=(height + pad[0] + pad[1], width + pad[2] + pad[3]))

    def resized(self, size: tuple[int, int]) -> Geometry:
        """This geometry with the final resize to ``size = (h, w)``."""
        return dataclasses.replace(self, size=(int(size[0]), int(size[1])))


def to_native(prob: np.ndarray, geometry: Geometry, fill: np.ndarray | float | None = None
              ) -> np.ndarray:
    """Map per-pixel probabilities of a delivered slice back onto its source's pixel grid.

    Args:
        prob: float (h, w, K) probabilities at ``geometry.size`` (stride padding removed).
        geometry: the slice's :class:`Geometry`.
        fill: value of pixels outside the crop box, per class or one number; default: 0 for
            one output channel (sigmoid), class 0 = 1 and the others 0 for K > 1 (softmax).

    Returns:
        float32 (H0, W0, K); probabilities are resampled bilinearly, so threshold afterwards.
    """
    prob = np.asarray(prob, np.float32)
    if prob.ndim != 3 or prob.shape[:2] != tuple(geometry.size):
        raise ValueError(f"prob has shape {prob.shape}; expected {tuple(geometry.size)} + (K,)")
    classes = prob.shape[-1]
    if fill is None:
        fill = np.zeros(classes, np.float32)
        if classes > 1:
            fill[0] = 1.0
    top, bottom, left, right = geometry.pad
    c_top, c_left, c_height, c_width = geometry.crop
    padded = resize_image(prob, geometry.padded_shape)
    crop = padded[top: top + c_height, left: left + c_width]
    out = np.empty((*geometry.shape, classes), np.float32)
    out[...] = fill
    out[c_top: c_top + c_height, c_left: c_left + c_width] = crop
    return out
