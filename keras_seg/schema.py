"""The configuration schema: every ``data``, ``training`` and top-level key in one table.

Each :class:`Setting` holds the key, its default, its type and valid range (a :class:`Kind`),
its help text and its ``train.py`` flag. Everything else is derived from :data:`SETTINGS`:
the defaults (:func:`defaults`), the validation (:func:`check`), the flags and ``--help``
(``keras_seg.cli``), ``--set KEY=VALUE`` for every key, and the README's config table
(:func:`markdown_table`). Adding a key is one entry here plus the code that reads it.

The ``model`` and ``loss`` sections are open: ``name`` (checked against the model / loss
registry) plus the builder's or the loss's own keyword arguments, checked against its signature.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import yaml

from keras_seg.errors import UserError

# Longest quoted prefix of a user's value in an error message.
QUOTE_CHARS = 60


def quote(value) -> str:
    """``repr(value)``, cut to a short prefix (a YAML alias bomb must not be printed)."""
    if isinstance(value, (dict, list, tuple)) and _too_big(value):
        return f"<a {type(value).__name__} too large to show>"
    text = repr(value)
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "..."


def _too_big(value, budget: int = 200) -> bool:
    """Whether a nested list/dict has more than ``budget`` items (stops counting early)."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > budget:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def _bad(key: str, expected: str, value) -> UserError:
    return UserError(f"{key} must be {expected}, got {quote(value)}")


def _as_number(key: str, value, expected: str) -> float | int:
    """A number from a config value: YAML reads ``1e-4`` as text, so text is parsed too."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _bad(key, expected, value) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(key, expected, value)
    if not math.isfinite(value):
        raise _bad(key, expected, value)
    return value


@dataclasses.dataclass(frozen=True)
class Kind:
    """A value type with its range: ``check(key, value)`` returns the normalised value or
    raises a UserError naming the key; ``text`` says what is valid (help, errors, README)."""

    text: str
    check_fn: Callable[[str, object], object]
    nullable: bool = False
    valid: Callable[[], tuple[str, ...]] | None = None  # a choice's names

    def check(self, key: str, value):
        if value is None and self.nullable:
            return None
        return self.check_fn(key, value)

    @property
    def describe(self) -> str:
        text = ", ".join(self.valid()) if self.valid is not None else self.text
        return text + (" or null" if self.nullable else "")


def integer(low: int, high: int, nullable: bool = False) -> Kind:
    expected = f"an integer in [{low}, {high}]"

    def check(key, value):
        value = _as_number(key, value, expected + (" or null" if nullable else ""))
        if not float(value).is_integer() or not low <= value <= high:
            raise _bad(key, expected + (" or null" if nullable else ""), value)
        return int(value)
    return Kind(expected, check, nullable)


def number(low: float, high: float, *, low_open: bool = False, nullable: bool = False) -> Kind:
    expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"

    def check(key, value):
        value = _as_number(key, value, expected + (" or null" if nullable else ""))
        if not (low < value if low_open else low <= value) or not value <= high:
            raise _bad(key, expected + (" or null" if nullable else ""), value)
        return float(value)
    return Kind(expected, check, nullable)


def boolean() -> Kind:
    def check(key, value):
        if not isinstance(value, bool):
            raise _bad(key, "true or false", value)
        return value
    return Kind("true or false", check)


def boolean_or_auto() -> Kind:
    """``true``, ``false`` or ``"auto"`` (decided where it is used, from the hardware)."""
    def check(key, value):
        if not isinstance(value, bool) and value != "auto":
            raise _bad(key, "true, false or auto", value)
        return value
    return Kind("true, false or auto", check)


def choice(names: Callable[[], tuple[str, ...]] | tuple[str, ...], what: str,
           nullable: bool = False) -> Kind:
    """One of ``names`` (a tuple, or a function returning the registry's names)."""
    def valid() -> tuple[str, ...]:
        return names() if callable(names) else names

    def check(key, value):
        if not isinstance(value, str) or value not in valid():
            raise UserError(f"unknown {what} {quote(value)} ({key}); valid: {', '.join(valid())}")
        return value
    return Kind(", ".join(names) if not callable(names) else f"a {what} name", check,
                nullable=nullable, valid=valid)


def text(expected: str, nullable: bool = True) -> Kind:
    def check(key, value):
        if not isinstance(value, str) or not value or "\0" in value:
            raise _bad(key, expected, value)
        return value
    return Kind(expected, check, nullable)


def mapping(expected: str) -> Kind:
    def check(key, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _bad(key, expected, value)
        return value
    return Kind(expected, check)


def count_or_fraction() -> Kind:
    expected = "a count in [1, 100000] or a fraction in (0, 1)"

    def check(key, value):
        value = _as_number(key, value, expected)
        if float(value).is_integer() and 1 <= value <= 100000:
            return int(value)
        if 0 < value < 1:
            return float(value)
        raise _bad(key, expected, value)
    return Kind(expected, check)


def id_list() -> Kind:
    expected = "a list of volume ids"

    def check(key, value):
        if not isinstance(value, list) or not value or _too_big(value, 1_000_000) or not all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise _bad(key, expected, value)
        return [str(v) for v in value]
    return Kind(expected, check, nullable=True)


def weight_list() -> Kind:
    expected = "a list of numbers in [0, 1000] with a positive sum (one per model output)"

    def check(key, value):
        if not isinstance(value, (list, tuple)) or not value or len(value) > 100:
            raise _bad(key, expected, value)
        numbers = [_as_number(key, v, expected) for v in value]
        if any(not 0 <= v <= 1000 for v in numbers) or not sum(numbers) > 0:
            raise _bad(key, expected, value)
        return [float(v) for v in numbers]
    return Kind(expected, check, nullable=True)


def augment_settings() -> Kind:
    def check(key, value):
        from keras_seg.data import augment

        try:
            augment.settings(value)
        except UserError as e:
            raise UserError(f"{key}: {e}") from None
        return value
    return Kind("true, false or a mapping of augmentation settings", check)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One config key: ``section.name`` (or a top-level name), its default, type and help.

    ``flag`` is the ``train.py`` option (default: ``--`` + the name with dashes).
    """

    key: str
    default: object
    kind: Kind
    help: str
    flag: str | None = None

    @property
    def section(self) -> str | None:
        return self.key.split(".")[0] if "." in self.key else None

    @property
    def name(self) -> str:
        return self.key.split(".")[-1]

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def _model_names() -> tuple[str, ...]:
    from keras_seg.models import MODEL_NAMES

    return tuple(MODEL_NAMES)


def _loss_names() -> tuple[str, ...]:
    from keras_seg import losses

    return tuple(losses.NAMES)


def _data_names() -> tuple[str, ...]:
    from keras_seg.data import DATA_NAMES

    return tuple(DATA_NAMES)


SCHEDULES = ("constant", "cosine", "plateau")
# Names that keras.optimizers.get accepts.
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adamax", "adagrad", "adadelta",
              "lion", "ftrl")
DISTRIBUTE = ("none", "mirrored", "multi_worker")
BACKENDS = ("tensorflow", "jax", "torch")
SEED = integer(0, 2**31 - 1)

SETTINGS: tuple[Setting, ...] = (
    Setting("model.name", "unet", choice(_model_names, "model"),
            "model builder (its keyword arguments are the other model.* keys)", "--model"),
    Setting("loss.name", "bce_logdice", choice(_loss_names, "loss"),
            "loss (its keyword arguments are the other loss.* keys)", "--loss"),
    Setting("data.name", "synthetic", choice(_data_names, "data set"), "data set reader",
            "--data"),
    Setting("data.dir", None, text("a directory path"), "data set folder", "--data-dir"),
    Setting("data.image_size", 256, integer(8, 8192),
            "side slices are resized to (patch side for patch-trained sets)"),
    Setting("data.val_volumes", 0.2, count_or_fraction(),
            "validation volumes: a count, or a fraction of the volumes (at least one each side)"),
    Setting("data.split_seed", 42, SEED, "seed of the validation draw and the k-fold split"),
    Setting("data.augment", True, augment_settings(),
            "augmentation: true, false or a mapping of settings (see README Data)"),
    Setting("data.options", {}, mapping("a mapping of reader options"),
            "reader options, one KEY=VALUE per flag (repeatable)", "--data-option"),
    Setting("data.val_volume_ids", None, id_list(),
            "the validation volumes by id (set by the run; overrides val_volumes)"),
    Setting("data.folds", None, integer(2, 1000, nullable=True),
            "k of a patient-level k-fold split (null: one seeded split)"),
    Setting("data.fold", 0, integer(0, 999), "the fold that validates (0-based, < folds)"),
    Setting("data.positive_fraction", None, number(0, 1, nullable=True),
            "share of training draws taken from slices with foreground (null: natural)"),
    Setting("data.cache", "memory", choice(("memory", "disk"), "data.cache"),
            "memory: decode everything into RAM; disk: decode once into an on-disk cache read "
            "per batch (data sets larger than memory)"),
    Setting("data.cache_dir", None, text("a directory path"),
            "folder of the disk cache (null: $KERAS_SEG_CACHE, else ~/.cache/keras_seg)"),
    Setting("training.epochs", 12, integer(1, 100000), "epochs to train (in total)"),
    Setting("training.batch_size", 16, integer(1, 65536), "global batch size"),
    Setting("training.lr", 2e-3, number(0, 10, low_open=True), "learning rate"),
    Setting("training.optimizer", "adam", choice(OPTIMIZERS, "optimizer"),
            "a keras.optimizers name"),
    Setting("training.schedule", "constant", choice(SCHEDULES, "schedule"),
            "learning-rate schedule: constant, cosine (to 0 over the run), plateau (halve "
            "when val_dsc stalls 5 epochs)"),
    Setting("training.seed", 0, SEED, "seed of weights, shuffling and augmentation"),
    Setting("training.mixed_precision", "auto", boolean_or_auto(),
            "mixed precision: bfloat16 (oneDNN, loss in float32) on a TensorFlow CPU with "
            "native bfloat16, float16 on a GPU, Keras' bfloat16 policy elsewhere; auto: on "
            "only where bfloat16 is native to a TensorFlow CPU (see README Speed)"),
    Setting("training.jit", False, boolean(), "XLA compilation (TensorFlow backend)"),
    Setting("training.distribute", "none", choice(DISTRIBUTE, "distribute"),
            "none, mirrored (all local devices) or multi_worker (TF_CONFIG); see README Backends"),
    Setting("training.backend", None, choice(BACKENDS, "backend", nullable=True),
            "Keras backend (null: KERAS_BACKEND, else tensorflow); the command restarts under it"),
    Setting("training.find_lr", False, boolean(),
            "run the learning-rate range test, write lr_finder.png/json"),
    Setting("training.find_lr_then_train", False, boolean(),
            "with find_lr: go on training at the suggested rate"),
    Setting("training.find_lr_rule", "valley", choice(("minimum", "steepest", "valley"),
                                                       "training.find_lr_rule"),
            "how find_lr suggests a rate: fastai's valley, steepest descent or minimum/10 "
            "(docs/results.md: valley trains best)"),
    Setting("training.resume", False, boolean(),
            "go on from the run directory's last finished epoch"),
    Setting("training.unfreeze_epoch", None, integer(1, 100000, nullable=True),
            "with model.encoder_freeze: train the whole model from this epoch on (null: never)"),
    Setting("training.choose_postprocessing", True, boolean(),
            "after training, try connected-component post-processing on the validation "
            "volumes; record it (postprocess.json) only if it raises their mean per-volume "
            "DSC; predict applies it (one extra prediction pass over the validation volumes)"),
    Setting("training.loss_weights", None, weight_list(),
            "loss weight per model output (deep supervision; null: equal, summing to 1)"),
    Setting("output", None, text("a directory path"),
            "run directory (default runs/<time>-<model>-<loss>/)"),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
# Sections whose keys are fixed by the schema; `model` and `loss` take builder / loss options.
FIXED_SECTIONS = ("data", "training")
OPEN_SECTIONS = ("model", "loss")
# Settings whose value is a mapping: ``--set data.augment.rotation=0`` sets one of its entries.
MAPPING_KEYS = ("data.augment", "data.options")


def defaults() -> dict:
    """The default configuration, nested by section."""
    out: dict = {"model": {}, "loss": {}, "data": {}, "training": {}}
    for s in SETTINGS:
        if s.section is None:
            out[s.key] = _copy(s.default)
        else:
            out[s.section][s.name] = _copy(s.default)
    return out


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value)) if isinstance(value, (dict, list)) else value


def parse_text(value: str):
    """A flag's or ``--set``'s text read as YAML (``3``, ``1e-4``, ``true``, ``[a, b]``)."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return value if parsed is None and value.strip() not in ("null", "~", "") else parsed


def set_item(config: dict, key: str, value) -> None:
    """Put ``value`` at dotted ``key`` of the nested ``config`` (creating sections)."""
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"--set {key}: {part} is not a section")
    node[parts[-1]] = value


def check_key(key: str) -> None:
    """Refuse a dotted key that no setting or open section has."""
    if key in BY_KEY:
        return
    section = key.split(".")[0]
    if section in OPEN_SECTIONS and key.count(".") == 1:
        return
    if any(key.startswith(mapping + ".") for mapping in MAPPING_KEYS):
        return  # one entry of a mapping (data.augment.rotation): checked with the whole config
    valid = ", ".join(s.key for s in SETTINGS)
    raise UserError(f"unknown config key '{key[:QUOTE_CHARS]}'; valid: {valid}, "
                    f"model.<option>, loss.<option>, data.augment.<setting>, "
                    f"data.options.<option>")


def markdown_table() -> str:
    """The README's config table, generated from :data:`SETTINGS`."""
    rows = ["| key | flag | default | valid | what |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        default = "null" if s.default is None else yaml.safe_dump(
            s.default, default_flow_style=True).strip().removesuffix("...").strip()
        rows.append(f"| `{s.key}` | `{s.option}` | `{default}` | {s.kind.describe} | {s.help} |")
    return "\n".join(rows) + "\n"
