"""NIfTI volumes (``.nii``, ``.nii.gz``): BraTS, the Medical Segmentation Decathlon, most MRI/CT.

Each 3D volume is cut into 2D slices along ``axis`` (default 2, the third voxel axis: axial for
scans stored in the usual RAS/LPS orientation); a slice is ``np.take(volume, k, axis)``, so its
rows and columns are the two remaining voxel axes in order. A volume is a case (patient).

Layouts (``layout="auto"`` picks Decathlon when ``DIR/imagesTr`` exists, else BraTS):

- ``decathlon``: ``DIR/imagesTr/<case>.nii.gz`` (3D, or 4D with the modalities on the last axis)
  and ``DIR/labelsTr/<case>.nii.gz``; ``subset="test"`` reads ``DIR/imagesTs/`` unlabelled.
  ``channels`` picks modalities of a 4D image by index (default all).
- ``brats``: one folder per case, ``DIR/<case>/<case>_<modality>.nii.gz`` per modality (``-`` as
  separator works too, as BraTS 2023) stacked as channels in the order of ``modalities``
  (default ``flair, t1, t1ce, t2``), and the label ``<case>_seg.nii.gz`` (``label_suffix``).
  Cases without a label file are read unlabelled (all of them must agree).

Labels: ``labels`` maps stored values to the class ids the model learns, e.g. BraTS
``{0: 0, 1: 1, 2: 2, 4: 3}`` (multi-class) or ``{0: 0, 1: 1, 2: 1, 4: 1}`` (whole tumour,
binary). Default: the stored values are the class ids. A stored value the map lacks is an error
naming the file.

Intensity, per case and channel at native resolution: ``"zscore"`` (default) over the whole
volume; ``"nonzero"`` over the nonzero voxels only with the background left 0 (skull-stripped
MRI such as BraTS, as nnU-Net does). Then slices are resized (``fit="resize"``) or kept
(``fit="patch"``). Each slice's geometry keeps its file, its index along ``axis`` and the in-plane
voxel spacing in mm, and :func:`write_prediction` writes a predicted label volume back in the
source's grid, affine and header.

Checks: the files of a case must share one spatial shape; complex-valued data and NaN or
infinite voxels are refused naming the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from keras_seg.data.assemble import FITS, size_hint
from keras_seg.data.decode import check_pixels
from keras_seg.data.geometry import Geometry
from keras_seg.data.normalise import zscore
from keras_seg.data.plan import Plan, VolumeTask, collect
from keras_seg.data.records import Record, natural_key, require_dir, visible_entries
from keras_seg.data.resize import resize_image, resize_mask
from keras_seg.data.sliceset import SliceSet
from keras_seg.errors import UserError

LAYOUTS = ("auto", "decathlon", "brats")
SUBSETS = ("train", "test")
INTENSITIES = ("zscore", "nonzero")
BRATS_MODALITIES = ("flair", "t1", "t1ce", "t2")
_NIFTI = re.compile(r"\.nii(\.gz)?$", re.IGNORECASE)


def _nib():
    import nibabel  # imported only when NIfTI files are read

    return nibabel


def _case_name(file_name: str) -> str:
    return _NIFTI.sub("", file_name)


def _nifti_files(folder: str) -> dict[str, str]:
    return {_case_name(n): os.path.join(folder, n) for n in visible_entries(folder)
            if _NIFTI.search(n) and os.path.isfile(os.path.join(folder, n))}


def _decathlon_cases(root: str, subset: str) -> list[tuple[str, list[str], str | None]]:
    image_dir = require_dir(os.path.join(root, "imagesTr" if subset == "train" else "imagesTs"),
                            "NIfTI image folder")
    images = _nifti_files(image_dir)
    if not images:
        raise UserError(f"NIfTI image folder {image_dir} holds no .nii/.nii.gz files")
    labels: dict[str, str] = {}
    if subset == "train":
        labels = _nifti_files(require_dir(os.path.join(root, "labelsTr"), "NIfTI label folder"))
        for case, path in images.items():
            if case not in labels:
                raise UserError(f"image {path} has no label file in {root}/labelsTr")
        for case, path in labels.items():
            if case not in images:
                raise UserError(f"label {path} has no image in {root}/imagesTr")
    return [(case, [images[case]], labels.get(case)) for case in images]


def _find(files: dict[str, str], case: str, suffix: str, folder: str) -> str | None:
    found = [p for name, p in files.items()
             if name.lower().endswith(("_" + suffix.lower(), "-" + suffix.lower()))]
    if len(found) > 1:
        raise UserError(f"case folder {folder} has several files for '{suffix}': "
                        f"{', '.join(os.path.basename(p) for p in found)}")
    return found[0] if found else None


def _brats_cases(root: str, modalities: Sequence[str], label_suffix: str
                 ) -> list[tuple[str, list[str], str | None]]:
    folders = [n for n in visible_entries(root) if os.path.isdir(os.path.join(root, n))]
    if not folders:
        raise UserError(f"no case folders in {root} (BraTS layout: DIR/<case>/<case>_flair.nii.gz"
                        ", ...; Decathlon layout: DIR/imagesTr/)")
    cases = []
    for case in sorted(folders, key=natural_key):
        folder = os.path.join(root, case)
        files = _nifti_files(folder)
        paths = []
        for modality in modalities:
            path = _find(files, case, modality, folder)
            if path is None:
                raise UserError(f"case folder {folder} has no '{modality}' file "
                                f"(<case>_{modality}.nii.gz)")
            paths.append(path)
        cases.append((case, paths, _find(files, case, label_suffix, folder)))
    if len({label is None for *_, label in cases}) > 1:
        missing = next(c for c, _, label in cases if label is None)
        raise UserError(f"case {os.path.join(root, missing)} has no '{label_suffix}' label "
                        "file but other cases have one")
    return cases


def cases(data_dir: str, layout: str = "auto", subset: str = "train",
          modalities: Sequence[str] = BRATS_MODALITIES, label_suffix: str = "seg"
          ) -> list[tuple[str, list[str], str | None]]:
    """``(case, image files, label file or None)`` per case, in natural name order."""
    if layout not in LAYOUTS:
        raise UserError(f"unknown NIfTI layout '{layout}'; valid: {', '.join(LAYOUTS)}")
    if subset not in SUBSETS:
        raise UserError(f"unknown NIfTI subset '{subset}'; valid: {', '.join(SUBSETS)}")
    root = require_dir(data_dir, "NIfTI folder")
    if layout == "auto":
        layout = "decathlon" if os.path.isdir(os.path.join(root, "imagesTr")) else "brats"
    if layout == "decathlon":
        return _decathlon_cases(root, subset)
    if isinstance(modalities, str) or not modalities:
        raise UserError("modalities must be a non-empty list of names, e.g. [flair, t1]")
    return _brats_cases(root, list(modalities), label_suffix)


def _load(path: str, what: str):
    try:
        image = _nib().load(path)
        dtype = image.get_data_dtype()
        if np.issubdtype(dtype, np.complexfloating):
            raise UserError(f"{what} {path} holds complex values ({dtype}); keras-seg reads "
                            "real-valued images only")
        data = np.asarray(image.dataobj)
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"file {path} does not exist") from None
    except Exception as e:  # nibabel, gzip and numpy each raise their own types
        first = (str(e).strip().splitlines() or [""])[0]
        raise UserError(f"cannot read {path}: {type(e).__name__}: {first}") from None
    check_pixels(data, path, what)
    return image, data


def _volume_channels(path: str, channels: Sequence[int] | None, axis: int):
    """(image, float32 (n, H, W, C) slices along axis) of one image file."""
    image, data = _load(path, "image")
    if data.ndim == 3:
        data = data[..., None]
    if data.ndim != 4:
        raise UserError(f"image {path} has shape {data.shape}; expected a 3D or 4D volume")
    if channels is not None:
        bad = [c for c in channels if not (isinstance(c, int) and 0 <= c < data.shape[3])]
        if bad:
            raise UserError(f"channel {bad[0]!r} does not exist in {path} "
                            f"({data.shape[3]} channels)")
        data = data[..., list(channels)]
    return image, np.moveaxis(data.astype(np.float32), axis, 0)


def _labels(path: str, label_map: dict | None, shape: tuple, axis: int) -> np.ndarray:
    _, data = _load(path, "label")
    if data.shape[:3] != shape or data.ndim != 3:
        raise UserError(f"label {path} has shape {data.shape}; its image is {shape}")
    if not np.all(np.equal(np.mod(data, 1), 0)):
        raise UserError(f"label {path} holds non-integer values")
    values = np.unique(data).astype(np.int64)
    if label_map is None:
        bad = values[(values < 0) | (values > 255)]
        if len(bad):
            raise UserError(f"label {path} holds the value {bad[0]}; class ids must be 0..255 "
                            "(set the labels option to map them)")
        out = data.astype(np.uint8)
    else:
        missing = [v for v in values.tolist() if v not in label_map]
        if missing:
            raise UserError(f"label {path} holds the value {missing[0]}, which the labels map "
                            f"({label_map}) lacks")
        lut = np.zeros(int(values.max()) - int(values.min()) + 1, np.uint8)
        for value in values.tolist():
            lut[value - int(values.min())] = label_map[value]
        out = lut[data.astype(np.int64) - int(values.min())]
    return np.moveaxis(out, axis, 0)[..., None]


def _normalise(images: np.ndarray, intensity: str) -> np.ndarray:
    if intensity == "zscore":
        return zscore(images)
    inside = (images != 0).any(axis=-1, keepdims=True).astype(np.uint8)
    return zscore(images, inside)


def read_case(case: str, image_paths: Sequence[str], label_path: str | None, *, axis: int,
              size: int | None, fit: str, intensity: str, label_map: dict | None,
              channels: Sequence[int] | None) -> SliceSet:
    """Read one case into a SliceSet of its slices along ``axis`` (see the module docstring)."""
    parts, first = [], None
    for path in image_paths:
        image, slices = _volume_channels(path, channels, axis)
        if first is None:
            first = image
        elif image.shape[:3] != first.shape[:3]:
            raise UserError(f"image {path} has shape {image.shape[:3]} but {image_paths[0]} of "
                            f"the same case has {first.shape[:3]}")
        parts.append(slices)
    images = _normalise(np.concatenate(parts, axis=-1), intensity)
    masks = None if label_path is None else _labels(label_path, label_map, first.shape[:3], axis)
    zooms = [float(z) for z in first.header.get_zooms()[:3]]
    spacing = tuple(z for i, z in enumerate(zooms) if i != axis)
    geometry = [Geometry.identity(image_paths[0], images.shape[1:3], index=k, axis=axis,
                                  spacing=spacing) for k in range(len(images))]
    if fit == "resize" and size is not None:
        images = np.stack([resize_image(im, (size, size)) for im in images])
        if masks is not None:
            masks = np.stack([resize_mask(m[..., 0], (size, size)) for m in masks])[..., None]
        geometry = [g.resized((size, size)) for g in geometry]
    n = len(images)
    return SliceSet(images, masks, volume_ids=np.full(n, case), slice_index=np.arange(1, n + 1),
                    names=np.array([f"{case}_{k}" for k in range(1, n + 1)]),
                    geometry=geometry)


def _check(axis, intensity, fit, labels) -> dict | None:
    if axis not in (0, 1, 2) or isinstance(axis, bool):
        raise UserError(f"axis must be 0, 1 or 2, got {str(axis)[:20]!r}")
    if intensity not in INTENSITIES:
        raise UserError(f"unknown NIfTI intensity '{str(intensity)[:40]}'; valid: "
                        f"{', '.join(INTENSITIES)}")
    if fit not in FITS:
        raise UserError(f"unknown fit '{fit}'; valid: {', '.join(FITS)}")
    if labels is None:
        return None
    if not isinstance(labels, dict) or not all(
            isinstance(k, int) and isinstance(v, int) and 0 <= v <= 255
            for k, v in labels.items()):
        raise UserError("labels must map stored integer values to class ids 0..255, e.g. "
                        "{0: 0, 1: 1, 2: 2, 4: 3}")
    return dict(labels)


def records(data_dir: str, layout: str = "auto", subset: str = "train",
            modalities: Sequence[str] = BRATS_MODALITIES, label_suffix: str = "seg",
            axis: int = 2) -> list[Record]:
    """One record per slice (image = the case's first image file); reads only the headers."""
    _check(axis, "zscore", "resize", None)
    out = []
    for case, images, label in cases(data_dir, layout, subset, modalities, label_suffix):
        try:
            count = _nib().load(images[0]).shape[axis]
        except Exception as e:  # nibabel raises its own types for broken headers
            raise UserError(f"cannot read {images[0]}: {type(e).__name__}") from None
        out += [Record(images[0], label, case, k + 1, name=f"{case}_{k + 1}")
                for k in range(count)]
    return out


def plan(data_dir: str, image_size: int | None = None, *, layout: str = "auto",
         subset: str = "train", modalities: Sequence[str] = BRATS_MODALITIES,
         label_suffix: str = "seg", channels: Sequence[int] | None = None, axis: int = 2,
         labels: dict | None = None, intensity: str = "zscore", fit: str = "resize") -> Plan:
    """The reading plan of a NIfTI folder (arguments as :func:`load`)."""
    label_map = _check(axis, intensity, fit, labels)
    tasks = [VolumeTask(case, tuple(images) + ((label,) if label else ()),
                        lambda c=case, i=images, lab=label: read_case(
                            c, i, lab, axis=axis, size=image_size, fit=fit,
                            intensity=intensity, label_map=label_map, channels=channels))
             for case, images, label in cases(data_dir, layout, subset, modalities,
                                              label_suffix)]
    return Plan(tasks, patch_size=image_size if fit == "patch" else None,
                size_hint=size_hint(fit),
                options={"reader": "nifti", "modalities": list(modalities),
                         "channels": None if channels is None else list(channels), "axis": axis,
                         "labels": None if label_map is None else sorted(label_map.items()),
                         "intensity": intensity, "image_size": image_size, "fit": fit})


def load(data_dir: str, image_size: int | None = None, *, layout: str = "auto",
         subset: str = "train", modalities: Sequence[str] = BRATS_MODALITIES,
         label_suffix: str = "seg", channels: Sequence[int] | None = None, axis: int = 2,
         labels: dict | None = None, intensity: str = "zscore", fit: str = "resize"
         ) -> SliceSet:
    """Read a NIfTI folder into a SliceSet of 2D slices (see the module docstring).

    Args:
        data_dir: the folder (Decathlon task folder, or the folder of BraTS case folders).
        image_size: side the slices are resized to (None keeps the native size); with
            ``fit="patch"``, the side of the training patches.
        layout: ``"auto"`` (default), ``"decathlon"`` or ``"brats"``.
        subset: ``"train"`` (labelled) or ``"test"`` (Decathlon ``imagesTs``, unlabelled).
        modalities: BraTS: the modality file suffixes stacked as channels, in order.
        label_suffix: BraTS: the suffix of the label file (default ``seg``).
        channels: Decathlon 4D images: the channel indices to keep (default all).
        axis: voxel axis the volumes are sliced along (0, 1 or 2; default 2).
        labels: map of stored label values to class ids, e.g. ``{0: 0, 1: 1, 2: 2, 4: 3}``.
        intensity: ``"zscore"`` (default) or ``"nonzero"``.
        fit: ``"resize"`` (default) or ``"patch"``.
    """
    return collect(plan(data_dir, image_size, layout=layout, subset=subset,
                        modalities=modalities, label_suffix=label_suffix, channels=channels,
                        axis=axis, labels=labels, intensity=intensity, fit=fit))


def write_prediction(labels: Sequence[np.ndarray], geometry: Sequence[Geometry], path: str,
                     label_map: dict | None = None) -> str:
    """Write a predicted label volume as NIfTI in the grid of the slices' source file.

    Args:
        labels: per slice, integer class ids (H0, W0) in the source's pixel grid (map
            predictions back first with :func:`keras_seg.data.geometry.to_native`).
        geometry: the slices' geometries (all from one source file, sliced along one axis);
            slices of the volume that are not given stay 0.
        path: the output file (``.nii`` or ``.nii.gz``).
        label_map: the reader's ``labels`` map; class ids are written back as the stored
            values (class 3 as BraTS label 4; a class several values map to, as the smallest:
            whole tumour ``{0: 0, 1: 1, 2: 1, 4: 1}`` is written as 1). Default: class ids
            as they are.

    Returns:
        ``path``. The file has the source's 3D shape, affine and header (data type uint8, or
        int16 for stored values above 255).
    """
    nib = _nib()
    sources = {g.source for g in geometry}
    axes = {g.axis for g in geometry}
    if len(sources) != 1 or len(axes) != 1 or None in axes:
        raise ValueError("write_prediction needs slices of one NIfTI file cut along one axis")
    source, axis = sources.pop(), axes.pop()
    reference = nib.load(source)
    values = np.arange(256) if label_map is None else np.zeros(256, np.int64)
    if label_map is not None:  # a class several values map to is written as the smallest
        for stored, cls in sorted(label_map.items(), reverse=True):
            values[cls] = stored
    dtype = np.uint8 if values.max() <= 255 and values.min() >= 0 else np.int16
    volume = np.zeros(reference.shape[:3], dtype)
    for label, g in zip(labels, geometry, strict=True):
        label = np.asarray(label)
        if label.shape != tuple(g.shape):
            raise ValueError(f"label of slice {g.index} is {label.shape}; the source's slice "
                             f"is {g.shape}")
        index = [slice(None)] * 3
        index[axis] = g.index
        volume[tuple(index)] = values[label.astype(np.int64)]
    header = reference.header.copy()
    header.set_data_shape(volume.shape)
    header.set_data_dtype(dtype)
    header.set_slope_inter(1.0, 0.0)
    image = type(reference)(volume, reference.affine, header)
    try:
        image.to_filename(path)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    return path
