"""Predict a data set with one or several trained models and write the inference report.

``python -m keras_seg predict --model RUN/best.keras [MORE ...] --data NAME --data-dir DIR
--output OUT`` writes into ``OUT``:

- ``per_volume_metrics.csv``: ``volume, split, dsc, iou, precision, recall, hd95, assd, nsd,
  slices`` (plus ``auc, f1, accuracy, sensitivity, specificity`` for DRIVE and ``rand_error,
  vi`` for ISBI), when the data has masks (keras_seg.evaluation defines them);
- ``metrics.json``: the count, means and medians of those columns per split and for all;
- ``per_volume_dsc.csv``: ``volume, dsc, slices``;
- ``dsc.png``: one panel per split, a bar per volume, the mean as a red line, the median green;
- ``overlays/<slice>.png``: the slice with the truth outlined in green, the prediction in red;
- ``gifs/<volume>.gif``: the volume's overlays in slice order;
- ``masks/<slice>.png``: the predicted foreground, 0/255;
- ``nifti/<volume>.nii.gz`` (``nifti`` data only): the predicted labels of each case in its
  source file's grid, affine and header, class ids written back as the stored values of the
  reader's ``labels`` map (:func:`write_nifti`).

Masks, overlays and scores are in each image's own pixel grid: the probabilities are mapped back
through the reader's resize, padding and crop (``keras_seg.data.geometry.to_native``), then
thresholded. Every step of inference is an argument of :func:`predict` (and a flag):

- ``window`` / ``tile`` / ``overlap``: whole images padded to the network stride, or
  Gaussian-weighted sliding windows of the training size (default: sliding for images larger
  than the training size);
- ``tta="flip"``: the mean over the 4 flips (4 times the inference time);
- several models: the mean of their probabilities (an ensemble; the time of each model);
- ``postprocess="auto"``: the connected-component filter the run chose on its validation
  volumes (:func:`choose_postprocessing`), ``"none"``: none;
- ``split``: only the ``train``, ``val`` or ``unseen`` volumes of the models' runs.

The foreground is ``probability > threshold`` (for a softmax model: any class but 0).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import yaml
from PIL import Image

from keras_seg import backend, evaluation, progress, visualize
from keras_seg import data as data_lib
from keras_seg.data import nifti
from keras_seg.data.plan import iter_volumes as iter_plan
from keras_seg.errors import UserError
from keras_seg.export import (
    load_keras_model,
    load_saved_model,
    network_stride,
    saved_model_channels,
    saved_model_stride,
)
from keras_seg.inference import postprocess as post_lib
from keras_seg.inference.ensemble import Ensemble, InferenceOptions
from keras_seg.inference.splits import SPLIT_CHOICES, SPLITS, volume_splits
from keras_seg.inference.whole_image import whole_image_predict
from keras_seg.models import fold as fold_lib
from keras_seg.models import inference_model

RUN_CONFIG = "config.yaml"
GIF_FRAME_MS = 150
POSTPROCESS_MODES = ("auto", "none")
BASE_COLUMNS = ("dsc", "iou", "precision", "recall", "hd95", "assd", "nsd")


@dataclasses.dataclass
class Predictor:
    """A loaded model as a function of an image batch, with what whole-image prediction needs.

    Attributes:
        predict_batch: float32 (B, H, W, C) -> probabilities (B, H, W, K); H and W multiples
            of ``stride``.
        channels: input channels C the model takes.
        stride: the network's total downsampling factor.
        handle: the loaded object that owns the variables (kept alive with the predictor).
    """

    predict_batch: Callable[[np.ndarray], np.ndarray]
    channels: int
    stride: int
    handle: object = None


def load_predictor(path: str, fold: bool = True) -> Predictor:
    """Load a ``.keras`` file, a SavedModel directory, or a run directory (its best.keras).

    ``fold``: predict with :func:`keras_seg.models.fold_batchnorm`'s copy of a ``.keras``
    model (BatchNormalization folded into the convolutions: the same probabilities within
    float32 round-off, about 2x faster under bfloat16). A SavedModel runs as exported.
    """
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "saved_model.pb")):
        if not os.path.isfile(os.path.join(path, "best.keras")):
            raise UserError(f"{path} is neither a SavedModel nor a run directory with best.keras")
        path = os.path.join(path, "best.keras")
    if os.path.isdir(path):
        loaded = load_saved_model(path)
        return Predictor(lambda x: np.asarray(loaded.serve(x)), saved_model_channels(loaded),
                         saved_model_stride(loaded), loaded)
    if not os.path.exists(path):
        raise UserError(f"model not found: {path}")
    model = inference_model(load_keras_model(path))
    if fold:
        model = fold_lib.fold_batchnorm(model)
    return Predictor(model.predict_on_batch, int(model.inputs[0].shape[-1]),
                     network_stride(model), model)


def run_dir_of(model_path: str) -> str:
    """The run directory of a model: RUN for RUN, RUN/best.keras and RUN/saved_model."""
    path = os.path.normpath(model_path)
    return path if os.path.isfile(os.path.join(path, RUN_CONFIG)) else os.path.dirname(path)


def run_config(model_path: str) -> dict:
    """The training run's config.yaml next to the model (RUN/best.keras, RUN/saved_model, RUN),
    or {} when there is none."""
    config_path = os.path.join(run_dir_of(model_path), RUN_CONFIG)
    if not os.path.isfile(config_path):
        return {}
    with open(config_path) as f:
        config = yaml.safe_load(f)
    return config if isinstance(config, dict) else {}


def resolve_inputs(model_path: str, data: str | None = None, data_dir: str | None = None,
                   image_size: int | str | None = None, options: dict | None = None) -> dict:
    """The data set to predict: given values, else those of the model's training run.

    Args:
        model_path: the model; its run's config.yaml supplies what is not given.
        data: data set name (default: the run's).
        data_dir: data folder (default: the run's, when the data set is the run's).
        image_size: side the reader resizes to; None: the run's training size, or the native
            size without a run config; ``"native"``: the images' own size.
        options: reader options, on top of the run's (when the data set is the run's).

    Returns:
        ``{"name", "dir", "image_size", "options", "seed"}`` for :func:`keras_seg.data.load`
        (``seed``: the run's training seed for its own synthetic data, else 0).
    """
    config = run_config(model_path)
    trained = config.get("data") or {}
    name = data or trained.get("name")
    if name is None:
        raise UserError(f"--data is required: no {RUN_CONFIG} next to {model_path} names one")
    same = name == trained.get("name")
    if image_size is None:
        image_size = trained.get("image_size")
    elif image_size == "native":
        image_size = None
    return {"name": name,
            "dir": data_dir if data_dir is not None else (trained.get("dir") if same else None),
            "image_size": image_size,
            "options": {**((trained.get("options") or {}) if same else {}), **(options or {})},
            "seed": int((config.get("training") or {}).get("seed") or 0) if same else 0}


def predict_images(predictor: Predictor, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Probabilities (N, H, W, K) for whole images (N, H, W, C) of any size."""
    return whole_image_predict(predictor.predict_batch, images, predictor.stride, batch_size)


def training_tile(model_paths: Sequence[str]) -> int | None:
    """The training size of the first model's run (``data.image_size``), or None."""
    size = (run_config(model_paths[0]).get("data") or {}).get("image_size")
    return int(size) if isinstance(size, int) else None


def ensemble_splits(model_paths: Sequence[str], source: dict,
                    volumes: list[str]) -> dict[str, str]:
    """The split of each volume for an ensemble: ``train`` if any model trained on it, else
    ``val`` if any model validated on it, else ``unseen``."""
    per_model = [volume_splits(run_config(m).get("data") or {}, source, volumes)
                 for m in model_paths]
    return {v: next((s for s in ("train", "val") if any(p[v] == s for p in per_model)),
                    "unseen") for v in volumes}


def recorded_postprocess(model_paths: Sequence[str]) -> post_lib.Postprocess | None:
    """The post-processing the models' runs recorded, when they all recorded the same one."""
    choices = {post_lib.load_choice(run_dir_of(m)) for m in model_paths}
    return choices.pop() if len(choices) == 1 else None


@dataclasses.dataclass
class VolumePrediction:
    """One predicted volume, slice by slice, in the images' own pixel grids.

    Attributes:
        volume: the volume id.
        names: a display name per slice.
        images: per slice, the image shown in overlays (H_i, W_i, C).
        probs: per slice, float32 (H_i, W_i, K) probabilities.
        found: per slice, the bool (H_i, W_i) predicted foreground (before post-processing).
        truth: per slice, the bool (H_i, W_i) true foreground, or None without masks.
        valid: per slice, the bool (H_i, W_i) pixels that count, or None (all count).
        geometry: per slice, its :class:`keras_seg.data.Geometry` (source file, index along
            the sliced axis of a 3D file), or None where the reader keeps none.
    """

    volume: str
    names: list[str]
    images: list[np.ndarray]
    probs: list[np.ndarray]
    found: list[np.ndarray]
    truth: list[np.ndarray] | None
    valid: list[np.ndarray] | None
    geometry: list | None = None


# Reader options that change a slice's geometry, and their value for reading it as stored.
NATIVE_OPTIONS = {"crop_to_brain": False}


class VolumeReader:
    """The volumes of the data set to predict, read one at a time, and their native views.

    ``source`` is :func:`resolve_inputs`' answer. Each volume is read as the model sees it
    (resized, cropped as in training) with a geometry per slice; where that geometry is not the
    file's own grid, :meth:`native` reads the volume again as stored (no crop, no resize) for
    the truth, the region of interest and the overlay images.
    """

    def __init__(self, source: dict, channels: int) -> None:
        self.source, self.channels = source, channels
        self.plan = data_lib.plan(source["name"], source["dir"], source["image_size"],
                                  source["seed"], **source["options"])
        self._native: dict | None = None

    @property
    def volumes(self) -> list[str]:
        return [t.volume_id for t in self.plan.tasks]

    def read(self, volumes: Sequence[str]) -> Iterator[data_lib.SliceSet]:
        """The given volumes, in data-set order, as the model sees them."""
        chosen = set(volumes)
        tasks = [t for t in self.plan.tasks if t.volume_id in chosen]
        return iter_plan(dataclasses.replace(self.plan, tasks=tasks), self.channels)

    def native(self, volume: str) -> data_lib.SliceSet:
        """Volume ``volume`` as stored in its files."""
        if self._native is None:
            options = {**self.source["options"],
                       **{k: v for k, v in NATIVE_OPTIONS.items() if k in self.source["options"]}}
            native = data_lib.plan(self.source["name"], self.source["dir"], None,
                                   self.source["seed"], **options)
            self._native = {t.volume_id: t for t in native.tasks}
        return self._native[volume].read()


def _is_native(geom) -> bool:
    """Whether a slice's geometry is its file's own grid (no crop, padding or resize)."""
    if geom is None:
        return True
    h, w = geom.shape
    return (tuple(geom.crop) == (0, 0, h, w) and tuple(geom.pad) == (0, 0, 0, 0)
            and tuple(geom.size) == (h, w))


def _native(part: data_lib.SliceSet, probs: np.ndarray, reader: VolumeReader
            ) -> tuple[list, list, list, list]:
    """(images, probs, truth, valid) of one volume's slices in their files' pixel grids.

    Probabilities go through ``keras_seg.data.to_native``; the truth, region of interest and
    displayed image of a resampled slice come from the files (:meth:`VolumeReader.native`).
    """
    geometry = part.geometry if part.geometry is not None else [None] * len(part)
    stored = None
    images, native_probs, truth, valid = [], [], [], []
    for k, geom in enumerate(geometry):
        view, row = part, k
        prob = np.asarray(probs[k], np.float32)
        if not _is_native(geom):
            if stored is None:
                stored = reader.native(str(part.volume_ids[0]))
            view = stored
            if stored.geometry[k].source != geom.source or \
                    tuple(stored.images.shape[1:3]) != tuple(geom.shape):
                raise ValueError(f"the stored view of {geom.source} does not match its geometry")
            prob = data_lib.to_native(prob, geom)
        images.append(np.asarray(view.images[row]))
        native_probs.append(prob)
        truth.append(None if view.masks is None else np.asarray(view.masks[row])[..., 0] > 0)
        valid.append(None if view.weights is None
                     else np.asarray(view.weights[row])[..., 0] > 0)
    return images, native_probs, truth, valid


def predict_volumes(engine: Ensemble, reader: VolumeReader, volumes: Sequence[str],
                    threshold: float = 0.5, verbose: int = 1) -> Iterator[VolumePrediction]:
    """Predict ``volumes`` one at a time (slices in slice order), in the files' pixel grids."""
    bar = progress.Progress(len(volumes), "predicting", unit="volume", verbose=verbose)
    for part in reader.read(volumes):
        order = np.argsort(part.slice_index, kind="stable")
        part = part.subset(order)
        images, probs, truth, valid = _native(part, engine(np.asarray(part.images)), reader)
        yield VolumePrediction(
            str(part.volume_ids[0]), [str(n) for n in part.names], images, probs,
            [visualize.foreground(p, threshold) for p in probs],
            None if truth[0] is None else truth, None if valid[0] is None else valid,
            None if part.geometry is None else list(part.geometry))
        bar.add(1)
    bar.close()


def _stack(planes: list[np.ndarray]) -> np.ndarray:
    """(n, H, W) of 2D planes, zero-padded at the bottom and right to the largest size."""
    height, width = max(p.shape[0] for p in planes), max(p.shape[1] for p in planes)
    return np.stack([np.pad(p, ((0, height - p.shape[0]), (0, width - p.shape[1])))
                     for p in planes])


def extra_columns(data_name: str) -> tuple[str, ...]:
    """Data-set specific columns of per_volume_metrics.csv."""
    return {"drive": evaluation.VESSEL_METRICS, "isbi": evaluation.CELL_METRICS}.get(
        data_name, ())


def foreground_probability(prob: np.ndarray) -> np.ndarray:
    """(H, W) probability of the foreground: the sigmoid channel, or 1 - P(class 0)."""
    prob = np.asarray(prob, np.float32)
    return prob[..., 0] if prob.shape[-1] == 1 else 1.0 - prob[..., 0]


def score_volume(result: VolumePrediction, found: list[np.ndarray], source: dict,
                 spacing=None, tolerance: float = 1.0) -> dict[str, float]:
    """The metrics of one volume (keras_seg.evaluation), with ``source``'s extra columns.

    Slices of different sizes are stacked zero-padded (background) to the largest size.
    """
    pred, truth = _stack(found), _stack(result.truth)
    valid = None if result.valid is None else _stack(result.valid)
    row = evaluation.volume_metrics(pred, truth, valid, spacing, tolerance)
    if source["name"] == "drive":
        prob = _stack([foreground_probability(p) for p in result.probs])
        row.update(evaluation.vessel_metrics(prob, pred, truth, valid))
    if source["name"] == "isbi":
        membrane = (source.get("options") or {}).get("foreground", "membrane") == "membrane"
        row.update(evaluation.cell_metrics(~pred if membrane else pred,
                                           ~truth if membrane else truth))
    return row


def _open(model_paths: Sequence[str], data: str | None, data_dir: str | None,
          image_size: int | str | None, options: dict | None, inference: InferenceOptions,
          fold: bool = True) -> tuple[Ensemble, dict, VolumeReader]:
    """The models as one :class:`Ensemble`, the data source and its reader."""
    predictors = [load_predictor(m, fold) for m in model_paths]
    channels = {p.channels for p in predictors}
    if len(channels) > 1:
        raise UserError(f"the models of the ensemble take different channel counts: "
                        f"{sorted(channels)}")
    source = resolve_inputs(model_paths[0], data, data_dir, image_size, options)
    return (Ensemble(predictors, inference), source,
            VolumeReader(source, predictors[0].channels))


def _model_paths(model: str | Sequence[str]) -> list[str]:
    paths = [model] if isinstance(model, (str, os.PathLike)) else list(model)
    if not paths:
        raise UserError("no model given")
    return [os.fspath(p) for p in paths]


def predict(model: str | Sequence[str], *, output: str = "predictions",
            data: str | None = None, data_dir: str | None = None,
            image_size: int | str | None = None, options: dict | None = None,
            threshold: float = 0.5, batch_size: int = 8, split: str = "all",
            tta: str = "none", window: str = "auto", tile: int | None = None,
            overlap: float = 0.5, postprocess: str = "auto",
            spacing: float | Sequence[float] | None = None, tolerance: float = 1.0,
            precision: str = "auto", fold_batchnorm: bool = True, verbose: int = 1) -> dict:
    """Predict a data set and write the report (see the module docstring) into ``output``.

    Args:
        model: a model path (RUN/best.keras, RUN/saved_model, RUN), or several: an ensemble
            whose probabilities are averaged.
        output: the report folder.
        data, data_dir, image_size, options: the data set (default: the first model's run's;
            see :func:`resolve_inputs`).
        threshold: probability above which a pixel is foreground.
        batch_size: images, or sliding-window tiles, per network call.
        split: ``"all"`` (default), or only the ``"train"``, ``"val"`` or ``"unseen"``
            volumes of the models' runs (:func:`ensemble_splits`).
        tta: ``"none"`` or ``"flip"`` (the mean over 4 flips; 4x the time).
        window: ``"auto"`` (default: sliding for images larger than the tile), ``"whole"``
            or ``"sliding"``.
        tile: sliding-window tile side (default: the first model's training size).
        overlap: fraction of a tile its neighbour shares (default 0.5).
        postprocess: ``"auto"``: what the runs recorded (:func:`choose_postprocessing`; for an
            ensemble, only when all runs recorded the same), ``"none"``: nothing.
        spacing: pixel spacing for the distances, one number or (slice, row, column);
            default 1 (pixels).
        tolerance: ``nsd`` tolerance, in units of ``spacing``.
        precision: ``"auto"`` (bfloat16 where the CPU computes it natively on TensorFlow, else
            float32), ``"float32"`` or ``"bfloat16"`` (:func:`keras_seg.backend.
            inference_precision`).
        fold_batchnorm: predict with BatchNormalization folded into the convolutions
            (:func:`load_predictor`; default on); False runs the model as saved.
        verbose: 1 shows progress, 0 is silent.

    Returns:
        ``{"volumes", "slices", "mean_dsc", "median_dsc", "splits", "postprocess",
        "precision"}``: the DSC over all predicted volumes (None without masks), ``splits``:
        metrics.json's per-split summaries, ``postprocess``: the applied step's name or None,
        ``precision``: what the network ran at.
    """
    paths = _model_paths(model)
    if split not in SPLIT_CHOICES:
        raise UserError(f"unknown split '{split}'; valid: {', '.join(SPLIT_CHOICES)}")
    if postprocess not in POSTPROCESS_MODES:
        raise UserError(f"unknown postprocess '{postprocess}'; valid: "
                        f"{', '.join(POSTPROCESS_MODES)}")
    try:
        spacing = evaluation.as_spacing(spacing)
    except ValueError as e:
        raise UserError(str(e)) from None
    inference = InferenceOptions(window, training_tile(paths) if tile is None else tile,
                                 overlap, tta, batch_size)
    chosen = backend.inference_precision(precision)
    with backend.precision_scope(chosen):  # traced inside: the rewrite applies
        engine, source, reader = _open(paths, data, data_dir, image_size, options, inference,
                                       fold_batchnorm)
        splits = ensemble_splits(paths, source, reader.volumes)
        volumes = [v for v in reader.volumes if split == "all" or splits[v] == split]
        if not volumes:
            raise UserError(f"no {split} volumes in data set '{source['name']}' for this model")
        step = recorded_postprocess(paths) if postprocess == "auto" else None
        volume_files = source["name"] == "nifti"
        _make_folders(output, ("nifti",) if volume_files else ())

        columns = BASE_COLUMNS + extra_columns(source["name"])
        rows, slice_count = [], 0
        for result in predict_volumes(engine, reader, volumes, threshold, verbose):
            found = result.found if step is None else list(step.apply(result.found))
            _write_volume(output, result, found)
            if volume_files:
                write_nifti(os.path.join(output, "nifti", f"{_file_name(result.volume)}.nii.gz"),
                            result, found, (source.get("options") or {}).get("labels"))
            slice_count += len(found)
            if result.truth is not None:
                rows.append({"volume": result.volume, "split": splits[result.volume],
                             **score_volume(result, found, source, spacing, tolerance),
                             "slices": len(found)})
    summary = {"volumes": len(volumes), "slices": slice_count, "mean_dsc": None,
               "median_dsc": None, "splits": {},
               "postprocess": None if step is None else str(step), "precision": chosen}
    if rows:
        report = write_reports(output, rows, columns)
        summary.update(mean_dsc=report["all"]["mean"]["dsc"],
                       median_dsc=report["all"]["median"]["dsc"], splits=report)
    return summary


def write_reports(output: str, rows: list[dict], columns: Sequence[str]) -> dict:
    """per_volume_metrics.csv, per_volume_dsc.csv, metrics.json and dsc.png; return the
    per-split summaries (``{"all": ..., "train": ..., ...}``, splits without volumes left out)."""
    with open(os.path.join(output, "per_volume_metrics.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["volume", "split", *columns, "slices"])
        for r in rows:
            writer.writerow([r["volume"], r["split"], *(repr(float(r[c])) for c in columns),
                             r["slices"]])
    write_dsc_csv(os.path.join(output, "per_volume_dsc.csv"),
                  {r["volume"]: r["dsc"] for r in rows}, {r["volume"]: r["slices"] for r in rows})
    report = {"all": evaluation.summarise(rows, columns)}
    for name in SPLITS:
        chosen = [r for r in rows if r["split"] == name]
        if chosen:
            report[name] = evaluation.summarise(chosen, columns)
    with open(os.path.join(output, "metrics.json"), "w") as f:
        json.dump(report, f, indent=2)
    plot_dsc(os.path.join(output, "dsc.png"),
             {r["volume"]: r["dsc"] for r in rows}, {r["volume"]: r["split"] for r in rows})
    return report


def choose_postprocessing(run: str, *, data_dir: str | None = None, threshold: float = 0.5,
                          batch_size: int = 8, tta: str = "none", window: str = "auto",
                          tile: int | None = None, overlap: float = 0.5,
                          min_voxels: Sequence[int] = post_lib.DEFAULT_MIN_VOXELS,
                          verbose: int = 1) -> dict:
    """Choose post-processing on a run's validation volumes and record it in the run.

    Predicts the validation volumes (``data.val_volume_ids`` of ``run/config.yaml``) with
    ``run/best.keras`` as :func:`predict` does (native grid, the given inference options),
    scores each candidate of keras_seg.inference.postprocess (keep the largest 3D component;
    remove components below each of ``min_voxels``) and writes ``run/postprocess.json``, whose
    ``chosen`` entry is the best candidate only if it raises the mean per-volume DSC over no
    post-processing (else null). ``predict`` applies the recorded choice.

    Args:
        run: the run directory (or its best.keras / saved_model).
        data_dir: the data folder, when it moved since training.

    Returns:
        The record (keras_seg.inference.postprocess.choose's result plus ``inference``).
    """
    run_dir = run_dir_of(run)
    trained = run_config(run).get("data") or {}
    if not trained.get("val_volume_ids"):
        raise UserError(f"{os.path.join(run_dir, RUN_CONFIG)} names no validation volumes "
                        "(data.val_volume_ids)")
    paths = [run]
    inference = InferenceOptions(window, training_tile(paths) if tile is None else tile,
                                 overlap, tta, batch_size)
    engine, source, reader = _open(paths, None, data_dir, None, None, inference)
    splits = ensemble_splits(paths, source, reader.volumes)
    volumes = [v for v in reader.volumes if splits[v] == "val"]
    if not volumes:
        raise UserError(f"none of the run's validation volumes is in data set "
                        f"'{source['name']}' at {source['dir']}")
    found, truth, valid = {}, {}, {}
    for result in predict_volumes(engine, reader, volumes, threshold, verbose):
        if result.truth is None:
            raise UserError(f"data set '{source['name']}' has no masks to choose "
                            "post-processing on")
        found[result.volume], truth[result.volume] = result.found, result.truth
        valid[result.volume] = result.valid
    record = post_lib.choose(found, truth, valid if all(valid.values()) else None,
                             post_lib.candidates(min_voxels))
    record["inference"] = {**dataclasses.asdict(inference), "threshold": threshold}
    post_lib.save_choice(run_dir, record)
    return record


def _make_folders(output: str, extra: Sequence[str] = ()) -> None:
    for folder in ("overlays", "gifs", "masks", *extra):
        try:
            os.makedirs(os.path.join(output, folder), exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot write the report to {output}: {e.strerror}") from None


def _write_volume(output: str, result: VolumePrediction, found: list[np.ndarray]) -> None:
    """The overlay and mask PNG of each slice (in slice order), and the volume's GIF."""
    frames = []
    for k, (image, mask) in enumerate(zip(result.images, found, strict=True)):
        truth = None if result.truth is None else result.truth[k]
        frames.append(visualize.overlay(image, truth, mask))
        stem = _file_name(result.names[k])
        Image.fromarray(frames[-1]).save(os.path.join(output, "overlays", f"{stem}.png"))
        Image.fromarray(np.asarray(mask, np.uint8) * 255).save(
            os.path.join(output, "masks", f"{stem}.png"))
    save_gif(os.path.join(output, "gifs", f"{_file_name(result.volume)}.gif"), frames)


def predicted_labels(prob: np.ndarray, found: np.ndarray) -> np.ndarray:
    """uint8 (H, W) class ids of one slice: 1 on the foreground of a one-channel model; the
    most probable class of a softmax model, inside the (post-processed) foreground, else 0."""
    prob = np.asarray(prob)
    if prob.shape[-1] == 1:
        return np.asarray(found, np.uint8)
    return np.where(found, np.argmax(prob, axis=-1), 0).astype(np.uint8)


def write_nifti(path: str, result: VolumePrediction, found: list[np.ndarray],
                label_map: dict | None = None) -> str:
    """One volume's predicted labels as NIfTI in its source file's grid, affine and header.

    Class ids go back to the stored values through the reader's ``labels`` map
    (:func:`keras_seg.data.nifti.write_prediction`).
    """
    if result.geometry is None:
        raise UserError(f"volume {result.volume} has no slice geometry to write NIfTI from")
    labels = [predicted_labels(p, f) for p, f in zip(result.probs, found, strict=True)]
    return nifti.write_prediction(labels, result.geometry, path, label_map)


def write_dsc_csv(path: str, scores: dict[str, float], counts: dict[str, int]) -> None:
    """``volume, dsc, slices``, one row per volume in data order."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["volume", "dsc", "slices"])
        for volume, dsc in scores.items():
            writer.writerow([volume, repr(float(dsc)), counts[volume]])


def plot_dsc(path: str, scores: dict[str, float], splits: dict[str, str] | None = None) -> None:
    """One panel per split: a horizontal bar per volume (sorted), the split's mean as a red
    line and its median as a green line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    splits = splits or {v: "all" for v in scores}
    groups = [s for s in (*SPLITS, "all") if s in splits.values()]
    heights = [max(2.0, 0.25 * sum(1 for v in scores if splits[v] == g) + 1.2) for g in groups]
    fig = Figure(figsize=(8, sum(heights)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, group in zip(axes, groups, strict=True):
        order = sorted((v for v in scores if splits[v] == group), key=scores.get)
        values = [scores[v] for v in order]
        ax.barh(range(len(order)), values, color="tab:blue")
        ax.set_yticks(range(len(order)), order, fontsize=7 if len(order) > 30 else 9)
        ax.axvline(float(np.mean(values)), color="red", linewidth=2,
                   label=f"mean {np.mean(values):.3f}")
        ax.axvline(float(np.median(values)), color="green", linewidth=2, linestyle="--",
                   label=f"median {np.median(values):.3f}")
        ax.set_xlim(0.0, 1.0)
        ax.set_title(f"DSC per volume: {group} ({len(order)})")
        ax.legend(loc="lower right")
    axes[-1].set_xlabel("Dice similarity coefficient")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def save_gif(path: str, frames: list[np.ndarray], frame_ms: int = GIF_FRAME_MS) -> None:
    """An endlessly looping animated GIF of uint8 RGB ``frames``, in order.

    Pillow merges consecutive identical frames into one (adding up their durations); frames
    of different sizes are padded to the first one's.
    """
    height, width = frames[0].shape[:2]
    frames = [f if f.shape[:2] == (height, width) else
              np.pad(f[:height, :width], ((0, max(0, height - f.shape[0])),
                                          (0, max(0, width - f.shape[1])), (0, 0)))
              for f in frames]
    first, *rest = (Image.fromarray(f) for f in frames)
    first.save(path, save_all=True, append_images=rest, duration=frame_ms, loop=0)


def _file_name(name: str) -> str:
    """A slice or volume name as a single path component."""
    return str(name).replace("/", "_").replace("\\", "_")
