"""Predict a data set with a trained model and write the inference report.

``python -m keras_seg predict --model RUN/best.keras|RUN/saved_model --data NAME --data-dir DIR
--output OUT`` writes into ``OUT``:

- ``per_volume_dsc.csv``: ``volume, dsc, slices`` (when the data has masks);
- ``dsc.png``: one bar per volume, the mean as a red line, the median as a green line;
- ``overlays/<slice>.png``: the slice with the truth outlined in green, the prediction in red;
- ``gifs/<volume>.gif``: the volume's overlays in slice order;
- ``masks/<slice>.png``: the predicted foreground, 0/255.

Images are predicted whole at the size the reader gives them, padded to a multiple of the
network's stride and cropped back, so images larger than the training size are covered. The
foreground is ``probability > threshold`` (for a softmax model: any class but 0); the DSC
ignores pixels of weight 0 (outside DRIVE's field of view).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Callable

import keras
import numpy as np
import yaml
from PIL import Image

from keras_seg import data as data_lib
from keras_seg import metrics, visualize
from keras_seg.data.padding import pad_to_multiple, unpad
from keras_seg.errors import UserError
from keras_seg.export import (
    load_keras_model,
    load_saved_model,
    network_stride,
    saved_model_channels,
    saved_model_stride,
)
from keras_seg.models import inference_model

RUN_CONFIG = "config.yaml"
GIF_FRAME_MS = 150


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


def load_predictor(path: str) -> Predictor:
    """Load a ``.keras`` file, a SavedModel directory, or a run directory (its best.keras)."""
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
    return Predictor(model.predict_on_batch, int(model.inputs[0].shape[-1]),
                     network_stride(model), model)


def run_config(model_path: str) -> dict:
    """The training run's config.yaml next to the model (RUN/best.keras, RUN/saved_model, RUN),
    or {} when there is none."""
    path = os.path.normpath(model_path)
    candidates = [os.path.join(path, RUN_CONFIG), os.path.join(os.path.dirname(path), RUN_CONFIG)]
    for config_path in candidates:
        if os.path.isfile(config_path):
            with open(config_path) as f:
                config = yaml.safe_load(f)
            return config if isinstance(config, dict) else {}
    return {}


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
        ``{"name", "dir", "image_size", "options"}`` for :func:`keras_seg.data.load`.
    """
    trained = run_config(model_path).get("data") or {}
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
            "options": {**((trained.get("options") or {}) if same else {}), **(options or {})}}


def predict_images(predictor: Predictor, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Probabilities (N, H, W, K) for whole images (N, H, W, C) of any size."""
    height, width = images.shape[1:3]
    padded, _ = pad_to_multiple(np.asarray(images, np.float32), predictor.stride)
    out = [predictor.predict_batch(padded[i:i + batch_size])
           for i in range(0, len(padded), batch_size)]
    return unpad(np.concatenate(out), height, width)


def predict(model_path: str, data: str | None = None, data_dir: str | None = None,
            output: str = "predictions", image_size: int | str | None = None,
            threshold: float = 0.5, batch_size: int = 8, options: dict | None = None,
            verbose: int = 1) -> dict:
    """Predict a data set and write the report (see the module docstring) into ``output``.

    Returns:
        ``{"volumes", "slices", "mean_dsc", "median_dsc"}`` (the DSC entries are None when the
        data has no masks).
    """
    predictor = load_predictor(model_path)
    source = resolve_inputs(model_path, data, data_dir, image_size, options)
    slices = data_lib.load(source["name"], source["dir"], source["image_size"], seed=0,
                           **source["options"])
    if slices.images.shape[-1] != predictor.channels:
        raise UserError(f"model {model_path} takes {predictor.channels}-channel images but "
                        f"data set '{source['name']}' has {slices.images.shape[-1]} channels")
    for folder in ("overlays", "gifs", "masks"):
        try:
            os.makedirs(os.path.join(output, folder), exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot write the report to {output}: {e.strerror}") from None

    volumes = slices.volumes
    progress = keras.utils.Progbar(len(volumes), unit_name="volume", verbose=verbose)
    sums, sum_ids = [], []
    for i, volume in enumerate(volumes):
        index = np.flatnonzero(slices.volume_ids == volume)
        index = index[np.argsort(slices.slice_index[index], kind="stable")]
        probs = predict_images(predictor, slices.images[index], batch_size)
        found = np.stack([visualize.foreground(p, threshold) for p in probs])
        _write_volume(output, volume, slices, index, probs, found, threshold)
        if slices.masks is not None:
            weights = None if slices.weights is None else slices.weights[index]
            sums.append(metrics.slice_sums(found, slices.masks[index], 0.5, weights))
            sum_ids.append(slices.volume_ids[index])
        progress.update(i + 1)

    summary = {"volumes": len(volumes), "slices": len(slices), "mean_dsc": None,
               "median_dsc": None}
    if sums:
        scores = metrics.per_volume_dsc_from_sums(np.concatenate(sums), np.concatenate(sum_ids))
        counts = {v: int(np.sum(slices.volume_ids == v)) for v in scores}
        write_dsc_csv(os.path.join(output, "per_volume_dsc.csv"), scores, counts)
        plot_dsc(os.path.join(output, "dsc.png"), scores)
        values = list(scores.values())
        summary.update(mean_dsc=float(np.mean(values)), median_dsc=float(np.median(values)))
    return summary


def _write_volume(output: str, volume: str, slices: data_lib.SliceSet, index: np.ndarray,
                  probs: np.ndarray, found: np.ndarray, threshold: float) -> None:
    """The overlay and mask PNG of each slice at ``index`` (in slice order), and the GIF."""
    frames = []
    for k, prob, mask in zip(index, probs, found, strict=True):
        truth = None if slices.masks is None else slices.masks[k]
        frames.append(visualize.overlay(slices.images[k], truth, prob, threshold))
        stem = _file_name(slices.names[k])
        Image.fromarray(frames[-1]).save(os.path.join(output, "overlays", f"{stem}.png"))
        Image.fromarray(mask.astype(np.uint8) * 255).save(
            os.path.join(output, "masks", f"{stem}.png"))
    save_gif(os.path.join(output, "gifs", f"{_file_name(volume)}.gif"), frames)


def write_dsc_csv(path: str, scores: dict[str, float], counts: dict[str, int]) -> None:
    """``volume, dsc, slices``, one row per volume in data order."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["volume", "dsc", "slices"])
        for volume, dsc in scores.items():
            writer.writerow([volume, repr(float(dsc)), counts[volume]])


def plot_dsc(path: str, scores: dict[str, float]) -> None:
    """Horizontal bar per volume (sorted), mean as a red line, median as a green line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = sorted(scores, key=scores.get)
    values = [scores[v] for v in order]
    fig = Figure(figsize=(8, max(3.0, 0.25 * len(order) + 1.2)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.barh(range(len(order)), values, color="tab:blue")
    ax.set_yticks(range(len(order)), order, fontsize=7 if len(order) > 30 else 9)
    ax.axvline(float(np.mean(values)), color="red", linewidth=2,
               label=f"mean {np.mean(values):.3f}")
    ax.axvline(float(np.median(values)), color="green", linewidth=2, linestyle="--",
               label=f"median {np.median(values):.3f}")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("Dice similarity coefficient")
    ax.set_title("DSC per volume")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def save_gif(path: str, frames: list[np.ndarray], frame_ms: int = GIF_FRAME_MS) -> None:
    """An endlessly looping animated GIF of uint8 RGB ``frames``, in order.

    Pillow merges consecutive identical frames into one (adding up their durations).
    """
    first, *rest = (Image.fromarray(f) for f in frames)
    first.save(path, save_all=True, append_images=rest, duration=frame_ms, loop=0)


def _file_name(name: str) -> str:
    """A slice or volume name as a single path component."""
    return str(name).replace("/", "_").replace("\\", "_")
