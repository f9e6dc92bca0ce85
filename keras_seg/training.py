"""Train a segmentation model from a resolved configuration and write the run directory."""

from __future__ import annotations

import datetime
import json
import os
import sys

import keras
import numpy as np

import losses
from callbacks import BestDSCCheckpoint
from keras_seg import config as config_lib
from keras_seg import data as data_lib
from keras_seg.data.pipeline import make_dataset
from keras_seg.errors import UserError
from keras_seg.export import check_export, export_saved_model
from keras_seg.models import MODEL_NAMES, get_model, output_count


class HistoryCSV(keras.callbacks.CSVLogger):
    """Keras' CSVLogger with 1-based epoch numbers, as the progress bar and summary use."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class LearningRateLogger(keras.callbacks.Callback):
    """Put the optimizer's current learning rate into the epoch logs as ``lr``."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def default_output_dir(config: dict) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{stamp}-{config['model']['name']}-{config['loss']['name']}")


def build_model(config: dict, channels: int) -> keras.Model:
    """The model of ``config['model']`` for ``channels`` input channels."""
    options = dict(config["model"])
    name = options.pop("name")
    if name not in MODEL_NAMES:
        raise UserError(f"unknown model '{name}'; valid names: {', '.join(MODEL_NAMES)}")
    size = config["data"]["image_size"]
    try:
        # Validate the training size, then build size-free so the model serves any size.
        get_model(name, input_shape=(size, size, channels), **options)
        keras.backend.clear_session()
        return get_model(name, input_shape=(None, None, channels), **options)
    except (ValueError, TypeError) as e:
        raise UserError(f"model '{name}': {e}") from None


def build_loss(config: dict) -> keras.losses.Loss:
    options = dict(config["loss"])
    name = options.pop("name")
    try:
        return losses.get(name, **options)
    except (ValueError, TypeError) as e:
        raise UserError(str(e).splitlines()[0]) from None


def train(config: dict) -> dict:
    """Train according to ``config``; return the summary written to ``summary.json``."""
    out = config["output"] or default_output_dir(config)
    config = {**config, "output": out}
    os.makedirs(out, exist_ok=True)
    tcfg, dcfg = config["training"], config["data"]
    keras.utils.set_random_seed(tcfg["seed"])

    data = data_lib.load(dcfg["name"], dcfg["dir"], dcfg["image_size"], seed=tcfg["seed"],
                         **dcfg["options"])
    train_set, val_set = data_lib.split_by_volume(data, dcfg["val_volumes"], dcfg["split_seed"])
    config["data"] = {**dcfg, "val_volume_ids": val_set.volumes}
    config_lib.save(config, os.path.join(out, "config.yaml"))

    loss = build_loss(config)
    model = build_model(config, channels=data.images.shape[-1])
    n_out = output_count(model)
    model.compile(optimizer=keras.optimizers.Adam(tcfg["lr"]),
                  loss=[loss] * n_out if n_out > 1 else loss,
                  jit_compile=bool(tcfg["jit"]))

    train_ds = make_dataset(train_set, tcfg["batch_size"], training=True, seed=tcfg["seed"],
                            augment=bool(dcfg["augment"]), num_outputs=n_out)
    val_ds = make_dataset(val_set, tcfg["batch_size"], training=False, num_outputs=n_out)
    best_path = os.path.join(out, "best.keras")
    checkpoint = BestDSCCheckpoint(val_ds, val_set.volume_ids, best_path)
    history = model.fit(
        train_ds, validation_data=val_ds, epochs=tcfg["epochs"],
        verbose=1 if sys.stdout.isatty() else 2,
        callbacks=[checkpoint, LearningRateLogger(),
                   HistoryCSV(os.path.join(out, "history.csv")),
                   keras.callbacks.TensorBoard(os.path.join(out, "tensorboard"),
                                               write_graph=False)])

    best = keras.models.load_model(best_path)
    export_saved_model(best, os.path.join(out, "saved_model"))
    check_export(best, os.path.join(out, "saved_model"), val_set.images[:2])
    summary = {
        "best_val_dsc": float(checkpoint.best),
        "best_epoch": int(checkpoint.best_epoch) + 1,
        "epochs_run": len(history.history["loss"]),
        "val_dsc_per_volume": checkpoint.last_scores,
        "data": {"train_volumes": len(train_set.volumes), "val_volumes": len(val_set.volumes),
                 "train_slices": len(train_set), "val_slices": len(val_set)},
        "model": config["model"]["name"], "loss": config["loss"]["name"],
        "parameters": int(best.count_params()),
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    np.random.seed(None)
    return summary
