"""Train a segmentation model from a resolved configuration and write the run directory.

:func:`train` is a sequence of named stages, each a function with one job::

    run = open_run(config, strategy, overwrite)  # output dir, resume state, lock
    data = load_data(run.config)                 # read the data set, split it by volume
    model = build_or_restore(run, data)          # a new model, or last.keras when resuming
    compile_model(model, run, data)              # loss, optimizer and its schedule
    callbacks = make_callbacks(run, data, model) # checkpoints, history, TensorBoard, NaN guard
    fit(model, run, data, callbacks)             # Keras' fit (in one or two phases)
    return finish_run(run, data, model, ...)     # summary.json and the SavedModel

:func:`find_learning_rate` is the LR range test's own path (``--find-lr``); with
``training.find_lr_then_train`` its suggestion becomes ``training.lr`` before :func:`train`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import os
import shutil
import sys
import tempfile

import keras
import pandas as pd

from keras_seg import backend, losses, schema
from keras_seg import config as config_lib
from keras_seg import data as data_lib
from keras_seg.callbacks import (
    BestDSCCheckpoint,
    TensorBoardImages,
    choose_slices,
    find_lr,
    save_atomically,
)
from keras_seg.data.padding import pad_to_multiple
from keras_seg.data.pipeline import make_dataset
from keras_seg.errors import UserError
from keras_seg.export import check_export, export_saved_model, network_stride
from keras_seg.models import (
    deep_supervision_weights,
    get_model,
    head_count,
    set_encoder_trainable,
)
from keras_seg.rundir import LAST_CHECKPOINT, LAST_STATE, RunDirectory, write_json_atomically

__all__ = ["LAST_CHECKPOINT", "LAST_STATE", "TrainingDiverged", "TrainingInterrupted",
           "find_learning_rate", "resume_config", "train"]

# Config keys a resumed run may change: more epochs continue the run to the new total.
RESUMABLE_CHANGES = ("training.epochs",)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped (exit status 1 from the CLI)."""


class TrainingInterrupted(RuntimeError):
    """Ctrl-C: the run directory holds every finished epoch (exit status 130 from the CLI)."""

    def __init__(self, output: str, epochs_done: int | None):
        self.output, self.epochs_done = output, epochs_done
        done = "no epoch finished" if not epochs_done else f"{epochs_done} epoch(s) kept"
        super().__init__(f"interrupted ({done}); go on with: python train.py --resume "
                         f"--output {output}")


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
    """Save model + optimizer state, the epoch count and the best score at each epoch end.

    Why not ``keras.callbacks.BackupAndRestore``: in Keras 3.15 it saves the weights and the
    optimizer variables, but writes the weights file in place (a kill during the write leaves a
    truncated file next to metadata that still points to it) and keeps nothing of the best
    epoch (score, per-volume scores) that ``summary.json`` needs after a resume. Here the whole
    ``.keras`` file (weights, optimizer variables, compile config) is written to a temporary
    file and renamed, then a small JSON of the epoch and the best epoch's scores, also renamed.
    """

    def __init__(self, run_dir: str, checkpoint: BestDSCCheckpoint):
        super().__init__()
        self.run_dir = run_dir
        self.checkpoint = checkpoint
        self.epochs_done: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            return  # never replace a good checkpoint with a diverged model
        save_atomically(self.model, os.path.join(self.run_dir, LAST_CHECKPOINT))
        best_epoch = self.checkpoint.best_epoch
        write_json_atomically(os.path.join(self.run_dir, LAST_STATE), {
            "epochs_done": epoch + 1,
            "best_val_dsc": None if best_epoch is None else float(self.checkpoint.best),
            "best_epoch": None if best_epoch is None else int(best_epoch) + 1,
            "best_val_dsc_per_volume": self.checkpoint.best_scores})
        self.epochs_done = epoch + 1


# ---------------------------------------------------------------------------------------------
# Building blocks


def default_output_dir(config: dict) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{stamp}-{config['model']['name']}-{config['loss']['name']}")


def build_model(config: dict, channels: int, size: int | None = None) -> keras.Model:
    """The model of ``config['model']`` for ``channels`` input channels and ``size`` squares
    (None: any spatial size).

    Raises:
        UserError: a bad option, or a size the network cannot take.
    """
    options = dict(config["model"])
    name = options.pop("name")
    try:
        return get_model(name, input_shape=(size, size, channels), **options)
    except (ValueError, TypeError) as e:
        raise UserError(f"model {name!r}: {str(e).splitlines()[0][:300]}") from None


def build_loss(config: dict) -> keras.losses.Loss:
    options = dict(config["loss"])
    name = options.pop("name")
    try:
        return losses.get(name, **options)
    except (ValueError, TypeError) as e:
        raise UserError(f"loss {name!r}: {str(e).splitlines()[0][:300]}") from None


def check_model(config: dict) -> int:
    """Refuse a bad model option, training size, loss option or loss weights before anything
    is read or written; return the model's output count.

    Builds a throw-away model at the training size.
    """
    heads = head_count(build_model(config, channels=1, size=config["data"]["image_size"]))
    build_loss(config)
    head_weights(config["training"]["loss_weights"], heads)
    return heads


def head_weights(weights: list[float] | None, heads: int) -> list[float] | None:
    """The loss weight of each deep-supervision head: ``training.loss_weights`` or the default.

    None for a model without extra heads; ``deep_supervision_weights(heads)`` when not set.

    Raises:
        UserError: weights set for a model without deep supervision, or not one per head.
    """
    if weights is None:
        return deep_supervision_weights(heads) if heads > 1 else None
    if len(weights) != heads:
        raise UserError(f"training.loss_weights has {len(weights)} weight(s) but the model has "
                        f"{heads} output(s)"
                        + ("; it applies to deep supervision (several outputs) only"
                           if heads == 1 else ""))
    return list(weights)


def training_loss(config: dict, heads: int) -> keras.losses.Loss:
    """The configured loss, weighed over the heads of a deep-supervised model."""
    loss = build_loss(config)
    if heads == 1:
        return loss
    return losses.DeepSupervisionLoss(loss, head_weights(config["training"]["loss_weights"],
                                                         heads))


def build_optimizer(tcfg: dict, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer ``training.optimizer`` with the ``training.schedule`` rate.

    Every schedule lives here: ``constant`` and ``plateau`` start at ``training.lr`` (plateau
    halving is :func:`schedule_callbacks`' job), ``cosine`` decays to 0 over the run.
    """
    lr = float(tcfg["lr"])
    if tcfg.get("schedule", "constant") == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=max(1, tcfg["epochs"] * steps_per_epoch))
    try:
        return keras.optimizers.get({"class_name": tcfg["optimizer"],
                                     "config": {"learning_rate": lr}})
    except ValueError:
        raise UserError(f"unknown optimizer '{tcfg['optimizer']}'") from None


def schedule_callbacks(tcfg: dict) -> list[keras.callbacks.Callback]:
    """The callbacks a schedule needs (``plateau``: halve when val_dsc stalls 5 epochs)."""
    if tcfg.get("schedule") == "plateau":
        return [keras.callbacks.ReduceLROnPlateau(monitor="val_dsc", mode="max", factor=0.5,
                                                  patience=5, verbose=1)]
    return []


def is_chief(strategy) -> bool:
    """Whether this process writes the run directory (always, unless a non-chief
    tf.distribute worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


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


def _trim_history(path: str, epochs_done: int) -> None:
    """Drop history rows of epochs that finished after the last checkpoint was written."""
    if os.path.isfile(path):
        history = pd.read_csv(path)
        history[history["epoch"] <= epochs_done].to_csv(path, index=False)


def resume_config(output: str, overrides: dict | None = None) -> dict:
    """The configuration to resume the run in ``output`` with: the run's own ``config.yaml``,
    with the changes a resume may make (:data:`RESUMABLE_CHANGES`) taken from ``overrides``.

    Raises:
        UserError: no run there, a damaged config, or ``overrides`` changing anything else
            (each such key is named).
    """
    path = os.path.join(output, "config.yaml")
    if not os.path.isfile(path):
        raise UserError(f"--resume: {output} holds no run to resume (no config.yaml)")
    saved = config_lib.resolve(path, {"output": output})
    refused = []
    for key, value in _flatten(overrides or {}):
        if key in ("output", "training.resume") or key in RESUMABLE_CHANGES:
            continue
        section, _, name = key.partition(".")
        current = saved.get(section) if not name else saved[section].get(name)
        if value != current:
            refused.append(f"{key} ({schema.quote(current)} in the run)")
    if refused:
        raise UserError(f"--resume cannot change {', '.join(refused)[:300]}; only "
                        f"{', '.join(RESUMABLE_CHANGES)} may change (start a new run with "
                        f"another --output instead)")
    epochs = ((overrides or {}).get("training") or {}).get("epochs")
    return config_lib.resolve(path, {"output": output, "training": {
        "resume": True, **({} if epochs is None else {"epochs": epochs})}})


def _flatten(config: dict, prefix: str = ""):
    for key, value in config.items():
        if isinstance(value, dict) and not prefix and key in ("model", "loss", "data",
                                                              "training"):
            yield from _flatten(value, f"{key}.")
        else:
            yield f"{prefix}{key}", value


# ---------------------------------------------------------------------------------------------
# The stages


@dataclasses.dataclass
class Run:
    """What the stages share: the resolved config, the run directory and the resume state."""

    config: dict
    directory: RunDirectory
    write_dir: str  # the run directory on the chief, a throw-away folder on other workers
    strategy: object  # the tf.distribute.Strategy on TensorFlow, else None or the JAX distribution
    chief: bool
    state: dict | None = None
    verbose: int = 1
    heads: int = 1  # deep-supervision heads the model trains (1: none)
    precision: str = "float32"  # what trained: a Keras policy name or "onednn_bfloat16"

    @property
    def tcfg(self) -> dict:
        return self.config["training"]

    @property
    def initial_epoch(self) -> int:
        return 0 if self.state is None else int(self.state["epochs_done"])

    @property
    def resume(self) -> bool:
        return self.state is not None


@dataclasses.dataclass
class Data:
    train: data_lib.SliceSet
    val: data_lib.SliceSet
    train_ds: object = None
    val_ds: object = None
    steps_per_epoch: int = 0


def open_run(config: dict, strategy, overwrite: bool = False,
             verbose: int | None = None) -> Run:
    """Stage 1: the output directory (checked, locked), the resume state, who writes.

    Every check that can fail on the user's input runs here, before anything is written.
    ``strategy`` is what :func:`keras_seg.backend.distribution_scope` yields.
    """
    out = config["output"] or default_output_dir(config)
    config = {**config, "output": out}
    chief = is_chief(strategy)
    shared = RunDirectory(out)
    if chief:
        shared.check_writable()
        shared.check_unlocked()
    state = None
    if config["training"]["resume"]:
        state = shared.read_state()
        if config["training"]["epochs"] < state["epochs_done"]:
            raise UserError(f"--resume: training.epochs {config['training']['epochs']} is less "
                            f"than the {state['epochs_done']} epochs the run has done")
    else:
        if chief:
            shared.check_new_run(overwrite)
        check_model(config)  # refuse a bad model, option, size or loss before loading data
    if config["training"]["unfreeze_epoch"] is not None and not config["model"].get(
            "encoder_freeze"):
        raise UserError("training.unfreeze_epoch needs a frozen encoder "
                        "(model.encoder=NAME with model.encoder_freeze: true)")
    # Workers other than the chief write into a throw-away folder.
    directory = shared if chief else RunDirectory(tempfile.mkdtemp(prefix="keras_seg_worker_"))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    return Run(config, directory, directory.path, strategy, chief, state, verbose)


def load_data(run: Run) -> Data:
    """Stage 2: read the data set and split it by volume (the split is saved with the run)."""
    dcfg, tcfg = run.config["data"], run.config["training"]
    data = data_lib.load(dcfg["name"], dcfg["dir"], dcfg["image_size"], seed=tcfg["seed"],
                         cache=dcfg["cache"], cache_dir=dcfg["cache_dir"],
                         verbose=int(run.verbose > 0), **dcfg["options"])
    train_set, val_set = _split(data, dcfg)
    run.config["data"] = {**dcfg, "val_volume_ids": val_set.volumes}
    return Data(train_set, val_set)


def build_or_restore(run: Run, data: Data) -> keras.Model:
    """Stage 3: a new model, or the run's ``last.keras`` when resuming (checked first)."""
    channels = data.train.images.shape[-1]
    if not run.resume:
        return build_model(run.config, channels)
    path = os.path.join(run.config["output"], LAST_CHECKPOINT)
    try:
        model = keras.models.load_model(path)
    except Exception as e:  # Keras raises many types for a damaged file
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise UserError(f"--resume: cannot load {path}: {reason}") from None
    taken = model.inputs[0].shape[-1]
    if taken != channels:
        raise UserError(f"--resume: {path} takes {taken}-channel images but the data has "
                        f"{channels} channels")
    return model


def make_datasets(run: Run, data: Data, model: keras.Model) -> None:
    """The training and validation tf.data pipelines, padded to the network stride."""
    dcfg, tcfg = run.config["data"], run.tcfg
    run.heads, stride = head_count(model), network_stride(model)
    data.train_ds = make_dataset(data.train, tcfg["batch_size"], training=True,
                                 seed=tcfg["seed"] + run.initial_epoch, augment=dcfg["augment"],
                                 positive_fraction=dcfg["positive_fraction"],
                                 pad_multiple=stride)
    # Patch-trained sets draw several patches per image: the pipeline knows the count.
    data.steps_per_epoch = int(data.train_ds.cardinality())
    data.val_ds = make_dataset(data.val, tcfg["batch_size"], training=False,
                               pad_multiple=stride)


def compile_model(model: keras.Model, run: Run, data: Data, *, epochs: int | None = None,
                  fresh: bool = False) -> None:
    """Stage 4: loss (one per output under deep supervision), optimizer and schedule.

    A resumed model keeps the compile state (optimizer moments included) of its checkpoint,
    unless ``fresh``; ``epochs`` sizes the schedule (default ``training.epochs``).
    """
    if run.resume and not fresh:
        return
    tcfg = run.tcfg if epochs is None else {**run.tcfg, "epochs": epochs}
    model.compile(optimizer=build_optimizer(tcfg, data.steps_per_epoch),
                  loss=training_loss(run.config, run.heads),
                  jit_compile=backend.jit_compile(tcfg["jit"]))


@dataclasses.dataclass
class Callbacks:
    checkpoint: BestDSCCheckpoint
    guard: NaNGuard
    last: LastCheckpoint
    all: list


def make_callbacks(run: Run, data: Data, model: keras.Model) -> Callbacks:
    """Stage 5: best-DSC checkpoint (first, so the others see val_dsc), schedule, history,
    TensorBoard scalars and overlays, NaN guard, resume checkpoint."""
    write = run.write_dir
    multi_worker = run.tcfg["distribute"] == "multi_worker"
    checkpoint = BestDSCCheckpoint(data.val_ds, data.val.volume_ids,
                                   os.path.join(write, "best.keras"), verbose=int(run.chief),
                                   eager_predict=multi_worker)
    if run.state is not None and run.state.get("best_epoch") is not None:
        checkpoint.best = run.state["best_val_dsc"]
        checkpoint.best_epoch = run.state["best_epoch"] - 1
        checkpoint.best_scores = dict(run.state.get("best_val_dsc_per_volume") or {})
    history_path = os.path.join(write, "history.csv")
    if run.resume:
        _trim_history(history_path, run.initial_epoch)
    stride = network_stride(model)
    shown = choose_slices(data.val.masks, data.val.volume_ids, count=4)
    guard = NaNGuard()
    last = LastCheckpoint(write, checkpoint)
    tensorboard = os.path.join(write, "tensorboard")
    every = [checkpoint, LearningRateLogger(), *schedule_callbacks(run.tcfg),
             HistoryCSV(history_path, append=run.resume),
             keras.callbacks.TensorBoard(tensorboard, write_graph=False),
             TensorBoardImages(pad_to_multiple(data.val.images[shown], stride)[0],
                               pad_to_multiple(data.val.masks[shown], stride)[0],
                               tensorboard, every=10, names=data.val.names[shown]),
             guard, last]
    return Callbacks(checkpoint, guard, last, every)


def fit(model: keras.Model, run: Run, data: Data, callbacks: Callbacks) -> None:
    """Stage 6: Keras' fit from the first unfinished epoch to ``training.epochs``.

    With ``training.unfreeze_epoch: N`` (a model built with ``encoder_freeze``), in two phases
    as Keras' transfer-learning guide does: up to epoch N with the encoder frozen, then the
    whole model, compiled afresh (Keras fixes the trainable weights at compile time) with the
    schedule over the remaining epochs. A run resumed after N restores the unfrozen model.
    """
    epochs, start = run.tcfg["epochs"], run.initial_epoch
    unfreeze = run.tcfg["unfreeze_epoch"]
    if start >= epochs:
        return  # a finished run resumed without more epochs: nothing to train
    if unfreeze is not None and start < unfreeze < epochs:
        model.fit(data.train_ds, validation_data=data.val_ds, epochs=unfreeze,
                  initial_epoch=start, shuffle=False, verbose=run.verbose,
                  callbacks=callbacks.all)
        if callbacks.guard.where is not None or model.stop_training:
            return
        set_encoder_trainable(model, True)
        compile_model(model, run, data, epochs=epochs - unfreeze, fresh=True)
        _build_state(model, data)
        for callback in callbacks.all:
            if isinstance(callback, keras.callbacks.CSVLogger):
                callback.append = True  # the second phase adds rows to the same history
        start = unfreeze
    model.fit(data.train_ds, validation_data=data.val_ds, epochs=epochs, initial_epoch=start,
              shuffle=False, verbose=run.verbose, callbacks=callbacks.all)


def finish_run(run: Run, data: Data, model: keras.Model, callbacks: Callbacks) -> dict:
    """Stage 7: ``summary.json`` and the SavedModel of ``best.keras``."""
    out = run.config["output"]
    checkpoint, guard = callbacks.checkpoint, callbacks.guard
    history_path = os.path.join(out, "history.csv")
    history = pd.read_csv(history_path) if os.path.isfile(history_path) else pd.DataFrame()
    summary = {
        "best_val_dsc": float(checkpoint.best) if checkpoint.best_epoch is not None else None,
        "best_epoch": None if checkpoint.best_epoch is None else int(checkpoint.best_epoch) + 1,
        "epochs_run": int(len(history)),
        "val_dsc_per_volume": checkpoint.best_scores,
        "data": {"train_volumes": len(data.train.volumes), "val_volumes": len(data.val.volumes),
                 "train_slices": len(data.train), "val_slices": len(data.val)},
        "model": run.config["model"]["name"], "loss": run.config["loss"]["name"],
        "parameters": int(sum(keras.ops.size(w) for w in model.trainable_weights)),
        "lr": float(run.tcfg["lr"]),
        "backend": backend.current(),
        "precision": run.precision,
    }
    if guard.where is not None:
        summary["stopped"] = (f"non-finite loss at epoch {guard.where[0]}, batch "
                              f"{guard.where[1]}; best.keras keeps the best finite epoch")
    best_path = os.path.join(out, "best.keras")
    if os.path.isfile(best_path):
        best = keras.models.load_model(best_path)
        exported = export_saved_model(best, os.path.join(out, "saved_model"))
        check_export(best, os.path.join(out, "saved_model"), data.val.images[:2],
                     exported=exported)
        if run.tcfg["choose_postprocessing"]:
            from keras_seg.predict import choose_postprocessing

            record = choose_postprocessing(out, batch_size=run.tcfg["batch_size"],
                                           verbose=int(run.verbose == 1))
            summary["postprocess"] = record["chosen"]
    write_json_atomically(os.path.join(out, "summary.json"), summary)
    return summary


def train(config: dict, *, overwrite: bool = False, verbose: int | None = None) -> dict:
    """Train according to ``config``; return the summary written to ``summary.json``.

    With ``training.resume`` the run in ``config['output']`` goes on from its last finished
    epoch (see :func:`resume_config` for the config to pass). A directory that already holds a
    run is refused unless ``overwrite``; one process at a time owns a run directory.

    Raises:
        UserError: bad input, found before anything is written where possible.
        TrainingDiverged: the loss stopped being finite (the run directory is complete).
        TrainingInterrupted: Ctrl-C; every finished epoch is kept for ``--resume``.
    """
    backend.activate(config["training"]["backend"])
    with contextlib.ExitStack() as distributed:
        strategy = distributed.enter_context(
            backend.distribution_scope(config["training"]["distribute"]))
        run = open_run(config, strategy, overwrite, verbose)
        keras.utils.set_random_seed(run.tcfg["seed"])
        data = load_data(run)
        callbacks = None
        try:
            with run.directory:  # only once the model and the data are known good
                precision = backend.mixed_precision_policy(run.tcfg["mixed_precision"],
                                                           run.tcfg["jit"])
                with precision as run.precision:
                    model = _for_strategy(build_or_restore(run, data), run)
                    _start_files(run, overwrite)  # after a resumed checkpoint passed its checks
                    make_datasets(run, data, model)
                    if run.tcfg["find_lr"] and not run.resume:
                        lr = _sweep(model, run, data)["suggested_lr"]
                        run.config["training"] = {**run.tcfg, "lr": lr}
                    compile_model(model, run, data)
                    _build_state(model, data)
                    callbacks = make_callbacks(run, data, model)
                    fit(model, run, data, callbacks)
                if not run.chief:
                    shutil.rmtree(run.write_dir, ignore_errors=True)
                    return {}
                # What follows is the chief's alone: outside the strategy, whose collective ops
                # would wait for workers that have finished.
                distributed.close()
                summary = finish_run(run, data, model, callbacks)
        except KeyboardInterrupt:
            done = callbacks.last.epochs_done if callbacks else None
            raise TrainingInterrupted(run.config["output"],
                                      done if done is not None else run.initial_epoch) from None
        except OSError as e:
            where = e.filename or run.config["output"]
            raise UserError(f"cannot write {where}: {e.strerror or e}") from None
    if callbacks.guard.where is not None:
        raise TrainingDiverged(summary["stopped"])
    return summary


def _start_files(run: Run, overwrite: bool) -> None:
    """A new run's first file, its config (after clearing a replaced run's files); a resumed
    run's config records its new total of epochs."""
    if not run.chief:
        return
    if overwrite and not run.resume:
        run.directory.clear()
    config_lib.save(run.config, run.directory.file("config.yaml"))


def _for_strategy(model: keras.Model, run: Run) -> keras.Model:
    """The model ``fit`` can run under the run's strategy (multi-worker: a MultiWorkerModel)."""
    if run.tcfg["distribute"] != "multi_worker":
        return model
    from keras_seg.multi_worker import MultiWorkerModel

    return model if isinstance(model, MultiWorkerModel) else MultiWorkerModel.wrap(model)


def _build_state(model: keras.Model, data: Data) -> None:
    """Build a multi-worker model's state from a local batch (see keras_seg.multi_worker)."""
    if hasattr(model, "build_state"):
        model.build_state(data.train_ds)


def _sweep(model: keras.Model, run: Run, data: Data) -> dict:
    """The LR range test on ``model`` with a constant-rate optimizer; weights restored."""
    model.compile(optimizer=build_optimizer({**run.tcfg, "schedule": "constant"},
                                            data.steps_per_epoch),
                  loss=training_loss(run.config, run.heads))
    _build_state(model, data)
    sweep = find_lr(model, data.train_ds, run.write_dir, rule=run.tcfg["find_lr_rule"],
                    verbose=run.verbose)
    print(f"lr finder: suggested learning rate {sweep['suggested_lr']:.3g} "
          f"(smoothed-loss minimum at {sweep['min_loss_lr']:.3g}); see "
          f"{os.path.join(run.config['output'], 'lr_finder.png')}")
    return sweep


def find_learning_rate(config: dict, *, overwrite: bool = False,
                       verbose: int | None = None) -> dict:
    """``--find-lr``: the learning-rate range test alone; writes ``lr_finder.png`` / ``.json``.

    Returns:
        ``{"suggested_lr": x, "lr_finder": path of lr_finder.json}``.
    """
    config = {**config, "training": {**config["training"], "find_lr": True}}
    backend.activate(config["training"]["backend"])
    with backend.distribution_scope(config["training"]["distribute"]) as strategy:
        run = open_run(config, strategy, overwrite, verbose)
        keras.utils.set_random_seed(run.tcfg["seed"])
        data = load_data(run)
        with run.directory:
            with backend.mixed_precision_policy(run.tcfg["mixed_precision"], run.tcfg["jit"]):
                model = _for_strategy(build_or_restore(run, data), run)
                _start_files(run, overwrite)
                make_datasets(run, data, model)
                sweep = _sweep(model, run, data)
    if not run.chief:
        shutil.rmtree(run.write_dir, ignore_errors=True)
    return {"suggested_lr": sweep["suggested_lr"],
            "lr_finder": os.path.join(run.config["output"], "lr_finder.json")}
