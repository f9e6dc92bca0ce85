"""Decode image and mask files (PNG, TIFF, JPEG, GIF, BMP) into arrays, validating as we go.

TIFF files may use any compression public data sets use (LZW as DRIVE, deflate, PackBits,
JPEG): tifffile decodes them with the ``imagecodecs`` package.

Images come out (H, W, C) in their stored dtype with C = 1 (grey) or 3 (colour): an alpha channel is
dropped, palette images are expanded to their colours. Complex-valued images and images with NaN
or infinite pixels are refused (naming the file), never silently cast. Masks come out uint8
(H, W) of 0/1:

- a grey or colour mask (all colour channels equal) must hold only 0 and 1, or only 0 and 255
  (255 -> 1); 0 is background;
- a palette image (GIF, palette PNG) is read by palette index, not colour: index 0 is
  background and at most one other index may occur, which is foreground.

Anything else (several grey levels, JPEG artefacts, a truncated file) is a UserError that
names the file.
"""

from __future__ import annotations

import numpy as np
import tifffile
from PIL import Image

from keras_seg.errors import UserError

_TIFF = (".tif", ".tiff")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _read_tiff(path: str) -> np.ndarray:
    array = tifffile.imread(path)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # planar (C, H, W) storage
    return array


def _open(path: str) -> Image.Image:
    image = Image.open(path)
    image.load()  # decode now, so that truncated data fails here
    return image


def _decode(path: str, reader):
    try:
        return reader(path)
    except FileNotFoundError:
        raise UserError(f"file {path} does not exist") from None
    except UserError:
        raise
    except Exception as e:  # every decoder has its own exception types
        raise UserError(f"cannot read {path}: {_first_line(e)}") from None


def read_image(path: str) -> np.ndarray:
    """Decode an image file into (H, W, C), C = 1 or 3, stored dtype and intensity scale."""
    def reader(p: str) -> np.ndarray:
        if p.lower().endswith(_TIFF):
            return _read_tiff(p)
        image = _open(p)
        if image.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBA", "RGBX", "RGBa"):
            image = image.convert("RGB")
        elif image.mode in ("1", "LA", "La"):
            image = image.convert("L")
        return np.asarray(image)

    array = _decode(path, reader)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"image {path} has shape {array.shape}; expected (H, W), (H, W, 3) "
                        "or (H, W, 4) (stacks of several pages are not supported)")
    if array.shape[-1] in (2, 4):  # drop alpha
        array = array[..., : array.shape[-1] - 1]
    check_pixels(array, path)
    return array


def check_pixels(array: np.ndarray, path: str, what: str = "image") -> None:
    """A UserError naming ``path`` unless ``array`` holds real, finite numbers."""
    if np.iscomplexobj(array):
        raise UserError(f"{what} {path} holds complex values ({array.dtype}); keras-seg reads "
                        "real-valued images only (store the magnitude or one part)")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise UserError(f"{what} {path} holds {array.dtype} values, not numbers")
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise UserError(f"{what} {path} has {bad} NaN or infinite pixel values; fix or "
                            "remove the file")


def read_mask(path: str) -> np.ndarray:
    """Decode a binary mask file into uint8 (H, W) of 0/1 (see the module doc for the rules)."""
    def reader(p: str) -> tuple[np.ndarray, bool]:
        if p.lower().endswith(_TIFF):
            return _read_tiff(p), False
        image = _open(p)
        if image.mode == "P":
            return np.asarray(image), True
        if image.mode in ("1", "LA", "La", "PA"):
            image = image.convert("L")
        return np.asarray(image), False

    array, palette = _decode(path, reader)
    check_pixels(array, path, "mask")
    if array.ndim == 3:
        if array.shape[-1] in (2, 4):
            array = array[..., : array.shape[-1] - 1]
        if not all(np.array_equal(array[..., 0], array[..., c]) for c in range(array.shape[-1])):
            raise UserError(f"mask {path} has colour channels that differ; masks must be grey "
                            "or palette images")
        array = array[..., 0]
    if array.ndim != 2:
        raise UserError(f"mask {path} has shape {array.shape}; expected (H, W)")
    values = np.unique(array)
    nonzero = values[values != 0]
    if palette:
        ok = len(nonzero) <= 1
    else:
        ok = set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}
    if not ok:
        shown = ", ".join(str(v) for v in values[:6].tolist()) + (", ..." if len(values) > 6
                                                                   else "")
        rule = ("index 0 and one other palette index" if palette
                else "only 0/1 or only 0/255")
        raise UserError(f"mask {path} is not binary: values {shown}; a mask must hold {rule}")
    return (array != 0).astype(np.uint8)
