"""Run configuration: defaults, YAML files, command-line overrides, validation.

A configuration has the sections ``model`` (``name`` plus the builder's keyword arguments),
``loss`` (``name`` plus the loss's keyword arguments), ``data``, ``training`` and the run
directory ``output``. :func:`resolve` stacks defaults < config file < flags and validates the
result: an unknown section, key, name or option, or a value of the wrong type, is a
``UserError`` that names it and lists what is valid.

``training.schedule`` sets the learning rate over the run:

- ``constant``: ``training.lr`` throughout;
- ``cosine``: cosine decay from ``training.lr`` to 0 over all training steps (epochs x batches);
- ``plateau``: ``training.lr`` halved whenever ``val_dsc`` has not improved for 5 epochs.
"""

from __future__ import annotations

import copy
import inspect
import os

import yaml

from keras_seg.data import DATA_NAMES
from keras_seg.errors import UserError

SCHEDULES = ("constant", "cosine", "plateau")
# Names that keras.optimizers.get accepts.
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adamax", "adagrad", "adadelta",
              "lion", "ftrl")
DISTRIBUTE = ("none", "mirrored", "multi_worker")

# The defaults are the synthetic job of configs/synthetic.yaml (a test keeps the two equal).
DEFAULTS: dict = {
    "model": {"name": "unet", "filters": 16},
    "loss": {"name": "bce_logdice", "batch": True},
    "data": {
        "name": "synthetic",
        "dir": None,
        "image_size": 128,
        "val_volumes": 4,
        "split_seed": 42,
        "augment": True,
        "options": {},
        "val_volume_ids": None,
        "folds": None,
        "fold": 0,
        "positive_fraction": None,
    },
    "training": {
        "epochs": 12,
        "batch_size": 16,
        "lr": 2e-3,
        "optimizer": "adam",
        "schedule": "constant",
        "seed": 0,
        "mixed_precision": False,
        "jit": False,
        "distribute": "none",
        "find_lr": False,
        "find_lr_then_train": False,
        "resume": False,
        "loss_weights": None,
    },
    "output": None,
}

# Sections whose keys are fixed; `model` and `loss` take builder / loss keyword arguments.
_FIXED_SECTIONS = ("data", "training")
# Loss constructor arguments that are not options a config may set.
_LOSS_NOT_OPTIONS = {"name", "reduction", "dtype"}


def merge(base: dict, override: dict, path: str = "") -> dict:
    """Deep-merge ``override`` into a copy of ``base``; unknown keys of fixed sections fail."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}{key}"
        if path == "" and key not in base:
            raise UserError(f"unknown config section '{key}'; valid: {', '.join(base)}")
        if path == "" and isinstance(base[key], dict) and not isinstance(value, dict):
            raise UserError(f"config section '{key}' must be a mapping of keys, got {value!r}")
        if path.rstrip(".") in _FIXED_SECTIONS and key not in base:
            raise UserError(f"unknown config key '{where}'; valid: "
                            f"{', '.join(path + k for k in base)}")
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, f"{where}.")
        else:
            out[key] = value
    return out


def load_yaml(path: str) -> dict:
    """Read a YAML config file with the safe loader."""
    path = os.path.expanduser(path)
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except OSError as e:
        raise UserError(f"cannot read config {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise UserError(f"malformed YAML in {path}: {str(e).splitlines()[0]}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise UserError(f"config {path} must be a mapping of sections")
    return content


def valid_names(section: str) -> tuple[str, ...]:
    """The names ``model.name`` or ``loss.name`` may take."""
    if section == "model":
        from keras_seg.models import MODEL_NAMES

        return MODEL_NAMES
    import losses

    return losses.NAMES


def accepted_options(section: str, name: str) -> list[str] | None:
    """Keyword options that model or loss ``name`` accepts; None if the name is unknown."""
    if name not in valid_names(section):
        return None
    if section == "model":
        from keras_seg.models import builder_options

        return [p for p in builder_options(name) if p != "name"]
    from losses.registry import LOSSES

    return [p for p in inspect.signature(LOSSES[name]).parameters
            if p not in _LOSS_NOT_OPTIONS]


def resolve(config_file: str | None = None, overrides: dict | None = None) -> dict:
    """Defaults, then the config file, then ``overrides`` (flags) on top, validated.

    A file's ``model`` or ``loss`` section that has a ``name`` is complete: the defaults'
    options are not merged into it (the builder's or loss's own defaults apply). When a flag
    names another model or loss than the file, the file's options for the old one are kept
    only where the new one accepts them (``--loss focal`` drops Dice's ``batch``); another data
    set drops the file's reader options and validation volume ids.

    Raises:
        UserError: unreadable file, unknown section / key / name / option, or a bad value;
            the message starts with the file's path when the file is at fault, names the
            key or value, and lists the valid choices.
    """
    config = copy.deepcopy(DEFAULTS)
    if config_file:
        content = load_yaml(config_file)
        for section in ("model", "loss"):
            if isinstance(content.get(section), dict) and "name" in content[section]:
                config[section] = {}
        config = _layer(config, content, f"{config_file}: ")
    for section in ("model", "loss"):
        new_name = (overrides or {}).get(section, {}).get("name")
        if new_name and new_name != config[section]["name"]:
            accepted = accepted_options(section, new_name) or []
            config[section] = {k: v for k, v in config[section].items() if k in accepted}
    new_data = (overrides or {}).get("data", {}).get("name")
    if new_data and new_data != config["data"]["name"]:
        config["data"] = {**config["data"], "options": {}, "val_volume_ids": None}
    if overrides:
        config = _layer(config, overrides, "")
    return config


def _layer(config: dict, override: dict, prefix: str) -> dict:
    """``override`` merged onto ``config`` and validated; errors start with ``prefix``."""
    try:
        return validate(merge(config, override))
    except UserError as e:
        raise UserError(f"{prefix}{e}") from None


def validate(config: dict) -> dict:
    """Check names, options and value types; return ``config`` with numbers normalised.

    YAML reads ``1e-4`` as a string (it wants ``1.0e-4``); such numeric strings are accepted
    for float settings.

    Raises:
        UserError: naming the culprit key and value, with the valid choices.
    """
    config = copy.deepcopy(config)
    for section in ("model", "loss"):
        _check_named_section(section, config[section])
    for key, check in _CHECKS.items():
        section, name = key.split(".")
        config[section][name] = check(key, config[section][name])
    if config["output"] is not None and not isinstance(config["output"], str):
        raise UserError(f"output must be a directory path, got {config['output']!r}")
    return config


def save(config: dict, path: str) -> None:
    """Write the resolved configuration as YAML."""
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)


def _check_named_section(section: str, options: dict) -> None:
    name = options.get("name")
    if not isinstance(name, str) or name not in valid_names(section):
        raise UserError(f"unknown {section} {name!r}; valid names: "
                        f"{', '.join(valid_names(section))}")
    accepted = accepted_options(section, name)
    unknown = sorted(set(options) - {"name"} - set(accepted))
    if unknown:
        raise UserError(f"unknown option{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(f'{section}.{k}' for k in unknown)} for {section} "
                        f"{name!r}; valid options: {', '.join(accepted)}")


def _bad(key: str, expected: str, value) -> UserError:
    return UserError(f"{key} must be {expected}, got {value!r}")


def _int(minimum: int | None = None):
    def check(key: str, value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or (
                minimum is not None and value < minimum):
            raise _bad(key, "an integer" + ("" if minimum is None else f" >= {minimum}"), value)
        return value
    return check


def _optional_folds(key: str, value):
    return None if value is None else _int(2)(key, value)


def _number_from_text(key: str, value, expected: str):
    """YAML reads `1e-4` as text: accept it as a number, else name the key."""
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        raise _bad(key, expected, value) from None


def _positive_float(key: str, value):
    value = _number_from_text(key, value, "a number > 0")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise _bad(key, "a number > 0", value)
    return float(value)


def _bool(key: str, value):
    if not isinstance(value, bool):
        raise _bad(key, "true or false", value)
    return value


def _one_of(choices: tuple[str, ...], what: str | None = None):
    def check(key: str, value):
        if value not in choices:
            raise UserError(f"unknown {what or key} {value!r}; valid: {', '.join(choices)}")
        return value
    return check


def _val_volumes(key: str, value):
    """A count (int >= 1) or a fraction in (0, 1)."""
    value = _number_from_text(key, value, "a count >= 1 or a fraction in (0, 1)")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            (isinstance(value, int) and value >= 1) or 0 < value < 1):
        raise _bad(key, "a count >= 1 or a fraction in (0, 1)", value)
    return value


def _optional_fraction(key: str, value):
    """None, or a number in [0, 1]."""
    if value is None:
        return None
    value = _number_from_text(key, value, "a number in [0, 1] or null")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _bad(key, "a number in [0, 1] or null", value)
    return float(value)


def _loss_weights(key: str, value):
    """None, or a list of numbers >= 0 with a positive sum (one per model output)."""
    if value is None:
        return None
    expected = "a list of numbers >= 0 (one per model output) or null"
    if not isinstance(value, (list, tuple)) or not value:
        raise _bad(key, expected, value)
    numbers = [_number_from_text(key, v, expected) for v in value]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0
           for v in numbers) or not sum(numbers) > 0:
        raise _bad(key, expected, value)
    return [float(v) for v in numbers]


def _augment(key: str, value):
    """true, false or a mapping of settings, checked by the pipeline's own rules."""
    from keras_seg.data import augment

    augment.settings(value)
    return value


def _typed(types: tuple[type, ...], expected: str):
    def check(key: str, value):
        if not isinstance(value, types):
            raise _bad(key, expected, value)
        return value
    return check


_CHECKS = {
    "data.name": _one_of(DATA_NAMES, "data set"),
    "data.dir": _typed((str, type(None)), "a directory path"),
    "data.image_size": _int(1),
    "data.val_volumes": _val_volumes,
    "data.split_seed": _int(),
    "data.augment": _augment,
    "data.options": _typed((dict,), "a mapping of reader options"),
    "data.val_volume_ids": _typed((list, type(None)), "a list of volume ids"),
    "data.folds": _optional_folds,
    "data.fold": _int(0),
    "data.positive_fraction": _optional_fraction,
    "training.epochs": _int(1),
    "training.batch_size": _int(1),
    "training.lr": _positive_float,
    "training.optimizer": _one_of(OPTIMIZERS),
    "training.schedule": _one_of(SCHEDULES),
    "training.seed": _int(),
    "training.mixed_precision": _bool,
    "training.jit": _bool,
    "training.distribute": _one_of(DISTRIBUTE),
    "training.find_lr": _bool,
    "training.find_lr_then_train": _bool,
    "training.resume": _bool,
    "training.loss_weights": _loss_weights,
}
