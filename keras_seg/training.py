"""Train a segmentation model from a resolved configuration and write the run directory."""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shutil
import sys
import tempfile

import keras
import pandas as pd
import tensorflow as tf

import losses
from callbacks import BestDSCCheckpoint, TensorBoardImages, choose_slices, find_lr, save_atomically
from keras_seg import config as config_lib
from keras_seg import data as data_lib
from keras_seg.data.padding import pad_to_multiple
from keras_seg.data.pipeline import make_dataset
from keras_seg.errors import UserError
from keras_seg.export import check_export, export_saved_model, network_stride
from keras_seg.models import MODEL_NAMES, deep_supervision_weights, get_model, output_count

LAST_CHECKPOINT = "last.keras"
LAST_STATE = "last_state.json"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped (exit status 1 from the CLI)."""


class HistoryCSV(keras.callbacks.CSVLogger):
    """Keras' CSVLogger with 1-based epoch numbers, as the progress bar and summary use."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class LearningRateLogger(keras.callbacks.Callback):
    """Put the optimizer's current learning rate into the epoch logs as ``lr``."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class NaNGuard(keras.callbacks.TerminateOnNaN):
    """Keras' TerminateOnNaN that remembers where the loss first stopped being finite."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.where: tuple[int, int] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.where is None:
            self.where = (self.epoch + 1, batch + 1)
        super().on_batch_end(batch, logs)


class LastCheckpoint(keras.callbacks.Callback):
    """Save model + optimizer state and the epoch count at each epoch end, for ``--resume``.

    Keras' BackupAndRestore keeps only the weights; resuming Adam without its moments is a
    different run, so the whole ``.keras`` file (weights, optimizer variables, compile config)
    is written, atomically, next to a small JSON of the epoch and the best score so far.
    """

    def __init__(self, run_dir: str, checkpoint: BestDSCCheckpoint):
        super().__init__()
        self.run_dir = run_dir
        self.checkpoint = checkpoint

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            return  # never replace a good checkpoint with a diverged model
        save_atomically(self.model, os.path.join(self.run_dir, LAST_CHECKPOINT))
        state = {"epochs_done": epoch + 1, "best_val_dsc": float(self.checkpoint.best),
                 "best_epoch": None if self.checkpoint.best_epoch is None
                 else int(self.checkpoint.best_epoch) + 1}
        tmp = os.path.join(self.run_dir, f".{LAST_STATE}.tmp")
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, os.path.join(self.run_dir, LAST_STATE))


def default_output_dir(config: dict) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{stamp}-{config['model']['name']}-{config['loss']['name']}")


def build_model(config: dict, channels: int, size: int | None = None) -> keras.Model:
    """The model of ``config['model']`` for ``channels`` input channels and ``size`` squares
    (None: any spatial size).

    Raises:
        UserError: an unknown name, a bad option, or a size the network cannot take.
    """
    options = dict(config["model"])
    name = options.pop("name")
    if name not in MODEL_NAMES:
        raise UserError(f"unknown model '{name}'; valid names: {', '.join(MODEL_NAMES)}")
    try:
        return get_model(name, input_shape=(size, size, channels), **options)
    except (ValueError, TypeError) as e:
        raise UserError(str(e).splitlines()[0]) from None


def check_model(config: dict) -> int:
    """Refuse a bad model name, option, training size or loss weights; the output count.

    Builds a throw-away model at the training size and clears the Keras session (call it
    outside a distribution scope).
    """
    n_out = output_count(build_model(config, channels=1, size=config["data"]["image_size"]))
    keras.backend.clear_session()
    output_weights(config["training"]["loss_weights"], n_out)
    return n_out


def build_loss(config: dict) -> keras.losses.Loss:
    options = dict(config["loss"])
    name = options.pop("name")
    try:
        return losses.get(name, **options)
    except (ValueError, TypeError) as e:
        raise UserError(str(e).splitlines()[0]) from None


def build_optimizer(tcfg: dict, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer named in ``training.optimizer`` with the ``training.schedule`` rate."""
    lr = float(tcfg["lr"])
    if tcfg.get("schedule", "constant") == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=tcfg["epochs"] * steps_per_epoch)
    try:
        return keras.optimizers.get({"class_name": tcfg["optimizer"],
                                     "config": {"learning_rate": lr}})
    except ValueError:
        raise UserError(f"unknown optimizer '{tcfg['optimizer']}'") from None


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``none`` (the default strategy), ``mirrored`` (all local GPUs) or ``multi_worker``."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError("--distribute multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name in (None, "none"):
        return tf.distribute.get_strategy()
    raise UserError(f"unknown distribute '{name}'; valid: none, mirrored, multi_worker")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory (always, unless a non-chief worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def adapt_to_multi_worker(model: keras.Model, dataset: tf.data.Dataset) -> None:
    """Let ``model.fit`` run under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Keras 3's TensorFlow trainer all-reduces the first data batch to build the model and reduces
    the scalar step logs with ``axis=0``, and both fail across workers. Build the model state from
    one local batch (inside the strategy scope) and return the logs as 1-element vectors.
    Only this model instance is changed; what is saved is the plain functional model.
    """
    model._symbolic_build(data_batch=next(iter(dataset)))
    model._maybe_symbolic_build = lambda *args, **kwargs: None

    def as_vectors(step):
        def vector_step(data):
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}
        return vector_step

    model.train_step = as_vectors(model.train_step)
    model.test_step = as_vectors(model.test_step)


@contextlib.contextmanager
def precision_policy(mixed: bool):
    """Mixed precision for the duration of a run: float16 on GPU, bfloat16 on CPU."""
    previous = keras.mixed_precision.global_policy()
    if mixed:
        gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _resume_state(out: str) -> tuple[dict, int]:
    """The saved state of an interrupted run and its number of finished epochs."""
    state_path = os.path.join(out, LAST_STATE)
    if not (os.path.isfile(state_path) and os.path.isfile(os.path.join(out, LAST_CHECKPOINT))):
        raise UserError(f"--resume: no checkpoint to resume in {out} (expected {LAST_STATE} "
                        f"and {LAST_CHECKPOINT})")
    with open(state_path) as f:
        state = json.load(f)
    return state, int(state["epochs_done"])


def _trim_history(path: str, epochs_done: int) -> None:
    """Drop history rows of epochs that finished after the last checkpoint was written."""
    if os.path.isfile(path):
        history = pd.read_csv(path)
        history[history["epoch"] <= epochs_done].to_csv(path, index=False)


def _split(data: data_lib.SliceSet, dcfg: dict):
    """(train, val): the configured ``val_volume_ids``, else fold ``fold`` of ``folds``, else a
    seeded draw of ``val_volumes``."""
    if dcfg.get("val_volume_ids"):
        val = list(dcfg["val_volume_ids"])
    elif dcfg.get("folds"):
        val = data_lib.kfold_volumes(data.volumes, dcfg["folds"], dcfg["fold"], dcfg["split_seed"])
    else:
        val = dcfg["val_volumes"]
    return data_lib.split_by_volume(data, val, dcfg["split_seed"])


def output_weights(weights: list[float] | None, n_out: int) -> list[float] | None:
    """The loss weight of each output: ``training.loss_weights`` or the default.

    None for a single-output model; ``deep_supervision_weights(n_out)`` when not set.

    Raises:
        UserError: weights set for a single-output model, or not one per output.
    """
    if weights is None:
        return deep_supervision_weights(n_out) if n_out > 1 else None
    if len(weights) != n_out:
        raise UserError(f"training.loss_weights has {len(weights)} weight(s) but the model has "
                        f"{n_out} output(s)"
                        + ("; it applies to deep supervision (several outputs) only"
                           if n_out == 1 else ""))
    return list(weights)


def train(config: dict) -> dict:
    """Train according to ``config``; return the summary written to ``summary.json``.

    With ``training.resume`` the run in ``config['output']`` goes on from its last finished
    epoch, with the configuration saved in that run directory.
    """
    out = config["output"] or default_output_dir(config)
    resume = bool(config["training"]["resume"])
    if resume:
        state, initial_epoch = _resume_state(out)
        config = config_lib.resolve(os.path.join(out, "config.yaml"),
                                    {"output": out, "training": {"resume": True}})
    else:
        state, initial_epoch = None, 0
    config = {**config, "output": out}
    tcfg, dcfg = config["training"], config["data"]
    strategy = make_strategy(tcfg["distribute"])
    chief = is_chief(strategy)
    run_dir = out if chief else tempfile.mkdtemp(prefix="keras_seg_worker_")
    keras.utils.set_random_seed(tcfg["seed"])

    if not resume:  # refuse a bad model, option, image size or loss weights before loading data
        check_model(config)
    data = data_lib.load(dcfg["name"], dcfg["dir"], dcfg["image_size"], seed=tcfg["seed"],
                         **dcfg["options"])
    train_set, val_set = _split(data, dcfg)
    config["data"] = {**dcfg, "val_volume_ids": val_set.volumes}
    os.makedirs(run_dir, exist_ok=True)  # only once the model and the data are known good
    if not resume:
        config_lib.save(config, os.path.join(run_dir, "config.yaml"))

    loss = build_loss(config)
    channels = data.images.shape[-1]
    with precision_policy(bool(tcfg["mixed_precision"])), strategy.scope():
        if resume:
            model = keras.models.load_model(os.path.join(out, LAST_CHECKPOINT))
        else:
            model = build_model(config, channels)
        n_out, stride = output_count(model), network_stride(model)
        train_ds = make_dataset(train_set, tcfg["batch_size"], training=True,
                                seed=tcfg["seed"] + initial_epoch,
                                augment=dcfg["augment"], num_outputs=n_out,
                                positive_fraction=dcfg["positive_fraction"],
                                pad_multiple=stride)
        # Patch-trained sets draw several patches per image: the pipeline knows the count.
        steps_per_epoch = int(train_ds.cardinality())
        val_ds = make_dataset(val_set, tcfg["batch_size"], training=False, num_outputs=n_out,
                              pad_multiple=stride)
        multi_worker = tcfg["distribute"] == "multi_worker"
        if not resume:
            compile_args = dict(
                loss=[loss] * n_out if n_out > 1 else loss,
                loss_weights=output_weights(tcfg["loss_weights"], n_out),
                jit_compile=bool(tcfg["jit"]))
            if tcfg["find_lr"]:
                # The sweep sets the rate batch by batch, so it runs with a constant-rate
                # optimizer; the model is compiled afresh for training below.
                model.compile(optimizer=build_optimizer({**tcfg, "schedule": "constant"},
                                                        steps_per_epoch), **compile_args)
                if multi_worker:
                    adapt_to_multi_worker(model, train_ds)
                sweep = find_lr(model, train_ds, run_dir,
                                verbose=1 if sys.stdout.isatty() else 2)
                print(f"lr finder: suggested learning rate {sweep['suggested_lr']:.3g} "
                      f"(smoothed-loss minimum at {sweep['min_loss_lr']:.3g}); see "
                      f"{os.path.join(out, 'lr_finder.png')}")
                if not tcfg["find_lr_then_train"]:
                    return {"suggested_lr": sweep["suggested_lr"],
                            "lr_finder": os.path.join(out, "lr_finder.json")}
                tcfg = {**tcfg, "lr": sweep["suggested_lr"]}
            model.compile(optimizer=build_optimizer(tcfg, steps_per_epoch), **compile_args)
        if multi_worker:
            adapt_to_multi_worker(model, train_ds)
        checkpoint = BestDSCCheckpoint(val_ds, val_set.volume_ids,
                                       os.path.join(run_dir, "best.keras"), verbose=int(chief),
                                       eager_predict=multi_worker)
        if state is not None and state["best_epoch"] is not None:
            checkpoint.best, checkpoint.best_epoch = state["best_val_dsc"], state["best_epoch"] - 1
        history_path = os.path.join(run_dir, "history.csv")
        if resume:
            _trim_history(history_path, initial_epoch)
        shown = choose_slices(val_set.masks, val_set.volume_ids, count=4)
        guard = NaNGuard()
        fit_callbacks = [checkpoint, LearningRateLogger()]
        if tcfg.get("schedule") == "plateau":
            fit_callbacks.append(keras.callbacks.ReduceLROnPlateau(
                monitor="val_dsc", mode="max", factor=0.5, patience=5, verbose=1))
        fit_callbacks += [
            HistoryCSV(history_path, append=resume),
            keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard"), write_graph=False),
            TensorBoardImages(pad_to_multiple(val_set.images[shown], stride)[0],
                              pad_to_multiple(val_set.masks[shown], stride)[0],
                              os.path.join(run_dir, "tensorboard"), every=10,
                              names=val_set.names[shown]),
            guard, LastCheckpoint(run_dir, checkpoint)]
        model.fit(train_ds, validation_data=val_ds, epochs=tcfg["epochs"],
                  initial_epoch=initial_epoch, shuffle=False,
                  verbose=1 if sys.stdout.isatty() else 2,
                  callbacks=fit_callbacks)
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
        return {}
    history = pd.read_csv(history_path) if os.path.isfile(history_path) else pd.DataFrame()
    summary = {
        "best_val_dsc": float(checkpoint.best) if checkpoint.best_epoch is not None else None,
        "best_epoch": None if checkpoint.best_epoch is None else int(checkpoint.best_epoch) + 1,
        "epochs_run": int(len(history)),
        "val_dsc_per_volume": checkpoint.best_scores,
        "data": {"train_volumes": len(train_set.volumes), "val_volumes": len(val_set.volumes),
                 "train_slices": len(train_set), "val_slices": len(val_set)},
        "model": config["model"]["name"], "loss": config["loss"]["name"],
        "parameters": int(sum(keras.ops.size(w) for w in model.trainable_weights)),
        "lr": float(tcfg["lr"]),
    }
    if guard.where is not None:
        summary["stopped"] = (f"non-finite loss at epoch {guard.where[0]}, batch "
                              f"{guard.where[1]}; best.keras keeps the best finite epoch")
    best_path = os.path.join(out, "best.keras")
    if os.path.isfile(best_path):
        best = keras.models.load_model(best_path)
        export_saved_model(best, os.path.join(out, "saved_model"))
        check_export(best, os.path.join(out, "saved_model"), val_set.images[:2])
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if guard.where is not None:
        raise TrainingDiverged(summary["stopped"])
    return summary
