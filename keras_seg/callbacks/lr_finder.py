"""Learning-rate range test: sweep the rate exponentially and suggest one."""

from __future__ import annotations

import json
import math
import os

import keras
import numpy as np
from matplotlib.figure import Figure

RULES = ("minimum", "steepest", "valley")
DEFAULT_RULE = "valley"


class LRFinder(keras.callbacks.Callback):
    """Sweep the learning rate from ``init`` to ``final`` and suggest a rate.

    Batch ``i`` (0-based) trains at ``init * mult**i``, ``mult = (final/init)**(1/(num_steps-1))``.
    The loss of each batch is smoothed with bias correction: ``avg = beta*avg + (1-beta)*loss``,
    ``smoothed = avg / (1 - beta**(i+1))``. The sweep stops after ``num_steps`` batches, when
    ``smoothed > stop_factor * best`` (after the first batch), or on a non-finite loss.

    Suggestion rules (``rule``; every rule's value is in the result's ``suggestions``):

    - ``"minimum"``: ``min_loss_lr / 10``, one decade below the rate of the lowest smoothed loss,
      as users of the reference pick (minimum near 1e-2, 1e-3 chosen).
    - ``"steepest"``: the rate where the smoothed loss falls fastest against log10(lr), searched
      before the minimum.
    - ``"valley"`` (fastai's default since 2.5): the longest stretch over which the smoothed loss
      keeps decreasing (longest decreasing subsequence, before the minimum); the rate at
      half-way through its steeper first two thirds.

    See :data:`RULES` and docs/results.md for how the default was chosen.

    At the end of training the model's variables (weights, batch-norm statistics, seed states)
    and the optimizer's variables (iterations, learning rate, moments) are restored to their
    values at the start, so the model behaves as never swept. An optimizer not built yet is
    built first, so its restored state is its initial one.

    The model's metrics are reset before each batch so that ``logs["loss"]`` is that batch's
    loss (Keras otherwise reports the running epoch mean): the epoch losses Keras reports
    during a sweep are therefore last-batch values. With ``steps_per_execution > 1`` one
    "batch" here is one execution. The optimizer needs a settable learning rate (a float, not a
    ``LearningRateSchedule``).

    Args:
        init: first learning rate.
        final: last learning rate, reached at batch ``num_steps - 1``.
        num_steps: sweep length in batches; ``None``: one epoch (``steps`` of ``fit``).
        beta: smoothing factor of the loss.
        stop_factor: stop when the smoothed loss exceeds this multiple of its best.
        rule: the suggestion rule, one of :data:`RULES`.
        output_dir: where to write ``lr_finder.png`` and ``lr_finder.json`` at the end;
            ``None`` to write nothing.

    Attributes:
        lrs, losses, smoothed_losses: the curve, one entry per batch run.
        result: the ``lr_finder.json`` content (see :meth:`summary`), set at the end.
    """

    def __init__(self, init: float = 1e-8, final: float = 10.0, num_steps: int | None = None,
                 beta: float = 0.98, stop_factor: float = 4.0, output_dir: str | None = None,
                 rule: str = DEFAULT_RULE):
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"unknown LR suggestion rule {rule!r}; valid: {', '.join(RULES)}")
        if not 0 < init < final:
            raise ValueError(f"LRFinder needs 0 < init < final, got init={init}, final={final}")
        if num_steps is not None and num_steps < 2:
            raise ValueError(f"LRFinder needs num_steps >= 2, got {num_steps}")
        self.init, self.final, self.num_steps = init, final, num_steps
        self.beta, self.stop_factor, self.output_dir = beta, stop_factor, output_dir
        self.rule = rule
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed_losses: list[float] = []
        self.result: dict | None = None
        self._saved: list[tuple[keras.Variable, np.ndarray]] | None = None

    def on_train_begin(self, logs=None):
        steps = self.num_steps or self.params.get("steps")
        if steps is None or steps < 2:
            raise ValueError("LRFinder cannot tell the epoch length (got "
                             f"{steps} steps); pass num_steps >= 2")
        self._steps = int(steps)
        self._mult = (self.final / self.init) ** (1.0 / (self._steps - 1))
        self._avg, self._best = 0.0, math.inf
        self.lrs, self.losses, self.smoothed_losses, self.result = [], [], [], None
        self._saved = snapshot_state(self.model)
        try:
            self.model.optimizer.learning_rate = self.init
        except TypeError:
            self._saved = None
            raise ValueError("LRFinder needs an optimizer with a settable learning rate; this "
                             "one has a LearningRateSchedule: compile with a float rate for "
                             "the sweep") from None

    def on_train_batch_begin(self, batch, logs=None):
        self.model.reset_metrics()
        self._lr = self.init * self._mult ** len(self.lrs)
        self.model.optimizer.learning_rate = self._lr

    def on_train_batch_end(self, batch, logs=None):
        loss = float(np.mean((logs or {})["loss"]))  # a 1-vector under multi-worker training
        self.lrs.append(self._lr)
        self.losses.append(loss)
        step = len(self.lrs)
        self._avg = self.beta * self._avg + (1.0 - self.beta) * loss
        smoothed = self._avg / (1.0 - self.beta ** step)
        self.smoothed_losses.append(smoothed)
        if not math.isfinite(smoothed) or (step > 1 and smoothed > self.stop_factor * self._best):
            self.model.stop_training = True
        else:
            self._best = min(self._best, smoothed)
        if step >= self._steps:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.restore()
        self.result = self.summary()
        if self.output_dir is not None:
            save_results(self.result, self.output_dir)

    def restore(self) -> None:
        """Put back the model and optimizer state of the start of the sweep (once)."""
        if self._saved is not None:
            restore_state(self.model, self._saved)
            self._saved = None
            self.model.reset_metrics()

    def summary(self) -> dict:
        """``{"suggested_lr", "min_loss_lr", "min_smoothed_loss", "stopped_early", settings,
        "lr", "loss", "smoothed_loss"}`` of the sweep run so far."""
        smoothed = np.array(self.smoothed_losses, np.float64)
        finite = np.isfinite(smoothed)
        if not finite.any():
            raise ValueError("LRFinder recorded no finite loss")
        best = int(np.argmin(np.where(finite, smoothed, np.inf)))
        suggestions = suggest(self.lrs, smoothed)
        return {
            "suggested_lr": suggestions[self.rule],
            "rule": self.rule,
            "suggestions": suggestions,
            "min_loss_lr": self.lrs[best],
            "min_smoothed_loss": float(smoothed[best]),
            "stopped_early": len(self.lrs) < self._steps,
            "init": self.init, "final": self.final, "num_steps": self._steps, "beta": self.beta,
            "stop_factor": self.stop_factor,
            "lr": list(self.lrs), "loss": list(self.losses),
            "smoothed_loss": [float(s) if math.isfinite(s) else None for s in smoothed],
        }


def suggest(lrs, smoothed) -> dict[str, float]:
    """The rate each rule of :data:`RULES` suggests from a sweep's smoothed loss curve.

    For ``steepest`` and ``valley`` only the curve from its first tenth (where the smoothed
    loss still averages few batches, as fastai skips it) up to its minimum counts (what follows
    is divergence); with fewer than three points there, both fall back to ``minimum``.
    """
    lrs = np.asarray(lrs, np.float64)
    smoothed = np.where(np.isfinite(smoothed), smoothed, np.inf)
    best = int(np.argmin(smoothed))
    out = {"minimum": float(lrs[best] / 10.0)}
    skip = len(lrs) // 10
    head, log_lr = smoothed[skip:best + 1], np.log10(lrs[skip:best + 1])
    if len(head) < 3:
        return {**out, "steepest": out["minimum"], "valley": out["minimum"]}
    lrs = lrs[skip:]
    out["steepest"] = float(lrs[int(np.argmin(np.gradient(head, log_lr)))])
    # Longest decreasing subsequence ending at each point (fastai's ``valley``).
    length = np.ones(len(head), int)
    for i in range(1, len(head)):
        earlier = length[:i][head[:i] > head[i]]
        if earlier.size:
            length[i] = earlier.max() + 1
    end = int(np.argmax(length))
    start = end - int(length[end])  # as fastai counts it
    third = (end - start) / 3
    out["valley"] = float(lrs[start + int(third) + int(third / 2)])
    return out


def snapshot_state(model: keras.Model) -> list[tuple[keras.Variable, np.ndarray]]:
    """Host copies of the values of the model's and its optimizer's variables.

    An optimizer not built yet is built on the model's trainable variables first.
    """
    optimizer = model.optimizer
    if optimizer is None:
        raise ValueError("LRFinder needs a compiled model")
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.variables) + list(optimizer.variables)
    return [(v, np.array(keras.ops.convert_to_numpy(v))) for v in variables]


def restore_state(model: keras.Model, saved: list[tuple[keras.Variable, np.ndarray]]) -> None:
    """Assign back the values taken by :func:`snapshot_state`."""
    for variable, value in saved:
        variable.assign(value)


def save_results(result: dict, output_dir: str) -> None:
    """Write ``lr_finder.json`` and ``lr_finder.png`` (smoothed loss against log10 lr)."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "lr_finder.json"), "w") as f:
        json.dump(result, f, indent=2, allow_nan=False)
    log_lr = np.log10(result["lr"])
    smoothed = np.array([np.nan if s is None else s for s in result["smoothed_loss"]])
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(log_lr, smoothed, color="tab:blue", label="smoothed loss")
    suggested = math.log10(result["suggested_lr"])
    ax.axvline(suggested, color="tab:red", linestyle="--",
               label=f"suggested lr {result['suggested_lr']:.2g} ({result['rule']})")
    ax.plot([math.log10(result["min_loss_lr"])], [result["min_smoothed_loss"]], "o",
            color="tab:green", label=f"minimum at lr {result['min_loss_lr']:.2g}")
    ax.set_xlabel("log10(learning rate)")
    ax.set_ylabel("smoothed loss")
    ax.set_title("Learning-rate range test")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(output_dir, "lr_finder.png"), dpi=100)


def find_lr(model: keras.Model, dataset, output_dir: str, init: float = 1e-8,
            final: float = 10.0, num_steps: int | None = None, beta: float = 0.98, *,
            min_steps: int = 100, rule: str = DEFAULT_RULE, verbose: int = 0) -> dict:
    """Run the learning-rate range test on a compiled ``model`` with ``model.fit``.

    The sweep runs over ``num_steps`` batches of ``dataset``, writes ``lr_finder.png`` and
    ``lr_finder.json`` into ``output_dir`` and leaves the model and its optimizer as they were.
    By default it lasts one epoch, but at least ``min_steps`` batches (several epochs on a
    small data set): the smoothed loss averages about the last 1/(1-beta) = 50 batches, so a
    sweep of a few dozen batches over 9 decades cannot locate its minimum (on the synthetic
    set, one 10-batch epoch suggests 1.0 where rates of 1e-2 to 1e-1 train best; 100 or more
    batches suggest 0.01-0.2).

    Args:
        model: a compiled model whose optimizer has a float learning rate.
        dataset: training batches (a ``tf.data.Dataset`` or anything ``fit`` takes without
            ``y``); its length must be known unless ``num_steps`` is given.
        output_dir: where to write the two files.
        init, final, num_steps, beta: see :class:`LRFinder`.
        min_steps: the shortest default sweep, in batches.
        rule: the suggestion rule (see :class:`LRFinder`).
        verbose: ``fit``'s verbosity.

    Returns:
        The ``lr_finder.json`` content; ``result["suggested_lr"]`` is the suggestion.
    """
    steps = _length(dataset)
    if num_steps is None:
        if steps is None:
            raise ValueError("find_lr cannot tell the epoch length of the dataset; "
                             "pass num_steps")
        num_steps = max(steps, min_steps)
    finder = LRFinder(init, final, num_steps, beta, output_dir=output_dir, rule=rule)
    epochs, steps_per_epoch = (1, num_steps) if steps is None else (math.ceil(num_steps / steps),
                                                                     None)
    try:
        model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose,
                  shuffle=False, callbacks=[finder])
    finally:
        finder.restore()  # also when the sweep is interrupted
    return finder.result


def _length(dataset) -> int | None:
    """Batches per epoch of ``dataset``, or None when unknown or infinite."""
    cardinality = getattr(dataset, "cardinality", None)
    if cardinality is not None:
        n = int(cardinality())
        return n if n > 0 else None
    try:
        return len(dataset)
    except TypeError:
        return None
