"""Run configuration: defaults, data-set defaults, YAML files, command-line overrides, validation.

A configuration has the sections ``model`` (``name`` plus the builder's keyword arguments),
``loss`` (``name`` plus the loss's keyword arguments), ``data``, ``training`` and the run
directory ``output``; every ``data`` / ``training`` key, its default and its valid range are
declared once in :mod:`keras_seg.schema`. :func:`resolve` stacks

    schema defaults < the data set's defaults < config file < flags (``--set`` included)

and validates the result: an unknown section, key, name or option, a value of the wrong type or
out of range is a ``UserError`` that names it and says what is valid.
"""

from __future__ import annotations

import copy
import inspect
import os

import yaml

from keras_seg import schema
from keras_seg.errors import UserError

SCHEDULES, OPTIMIZERS, DISTRIBUTE = schema.SCHEDULES, schema.OPTIMIZERS, schema.DISTRIBUTE
# Dice-type losses pool their sums over the batch by default: safe when many slices are empty.
DEFAULTS: dict = {**schema.defaults(), "loss": {"name": "bce_logdice", "batch": True}}

# Loss constructor arguments that are not options a config may set.
_LOSS_NOT_OPTIONS = {"name", "reduction", "dtype"}


def merge(base: dict, override: dict, path: str = "") -> dict:
    """Deep-merge ``override`` into a copy of ``base``; unknown sections or keys of fixed
    sections fail."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}{key}"
        if path == "" and key not in base:
            raise UserError(f"unknown config section {schema.quote(key)}; valid: "
                            f"{', '.join(base)}")
        if path == "" and isinstance(base[key], dict) and not isinstance(value, dict):
            raise UserError(f"config section '{key}' must be a mapping of keys, got "
                            f"{schema.quote(value)}")
        if path.rstrip(".") in schema.FIXED_SECTIONS and key not in base:
            raise UserError(f"unknown config key {schema.quote(where)}; valid: "
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
        with open(path, encoding="utf-8") as f:
            content = yaml.safe_load(f)
    except UnicodeDecodeError:
        raise UserError(f"config {path} is not UTF-8 text") from None
    except IsADirectoryError:
        raise UserError(f"config {path} is a directory, not a YAML file") from None
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

        return tuple(MODEL_NAMES)
    from keras_seg import losses

    return tuple(losses.NAMES)


def accepted_options(section: str, name: str) -> list[str] | None:
    """Keyword options that model or loss ``name`` accepts; None if the name is unknown."""
    if name not in valid_names(section):
        return None
    if section == "model":
        from keras_seg.models import builder_options

        return [p for p in builder_options(name) if p != "name"]
    from keras_seg.losses.registry import LOSSES

    return [p for p in inspect.signature(LOSSES[name]).parameters
            if p not in _LOSS_NOT_OPTIONS]


def resolve(config_file: str | None = None, overrides: dict | None = None) -> dict:
    """Defaults, the data set's defaults, then the config file, then ``overrides`` (flags).

    A file's ``model`` or ``loss`` section that has a ``name`` is complete: the defaults'
    options are not merged into it (the builder's or loss's own defaults apply). When a flag
    names another model or loss than the file, the file's options for the old one are kept
    only where the new one accepts them (``--loss focal`` drops Dice's ``batch``); another data
    set drops the file's reader options and validation volume ids.

    Raises:
        UserError: unreadable file, unknown section / key / name / option, or a bad value;
            the message starts with the file's path when the file is at fault, names the
            key or value, and says what is valid.
    """
    overrides = overrides or {}
    content = load_yaml(config_file) if config_file else {}
    data_name = _data_name(content, overrides)
    from keras_seg.data.defaults import dataset_defaults

    config = merge(copy.deepcopy(DEFAULTS), dataset_defaults(data_name)
                   if data_name in schema.BY_KEY["data.name"].kind.valid() else {})
    if content:
        for section in ("model", "loss"):
            if isinstance(content.get(section), dict) and "name" in content[section]:
                config[section] = {}
        config = _layer(config, content, f"{config_file}: ")
    for section in ("model", "loss"):
        new_name = _get(overrides, section, "name")
        if new_name and new_name != config[section].get("name"):
            accepted = accepted_options(section, new_name) or []
            config[section] = {k: v for k, v in config[section].items() if k in accepted}
    new_data = _get(overrides, "data", "name")
    if new_data and content and new_data != _get(content, "data", "name"):
        config["data"] = {**config["data"], "options": {}, "val_volume_ids": None}
    if overrides:
        config = _layer(config, overrides, "")
    return validate(config)


def _get(config: dict, section: str, key: str):
    part = config.get(section)
    return part.get(key) if isinstance(part, dict) else None


def _data_name(content: dict, overrides: dict) -> str:
    name = _get(overrides, "data", "name") or _get(content, "data", "name")
    return name if isinstance(name, str) else DEFAULTS["data"]["name"]


def _layer(config: dict, override: dict, prefix: str) -> dict:
    """``override`` merged onto ``config`` and validated; errors start with ``prefix``."""
    try:
        return validate(merge(config, override))
    except UserError as e:
        raise UserError(f"{prefix}{e}") from None


def validate(config: dict) -> dict:
    """Check names, options, value types and ranges; return ``config`` normalised.

    Raises:
        UserError: naming the culprit key and value, with what is valid.
    """
    config = copy.deepcopy(config)
    for section in schema.OPEN_SECTIONS:
        config.setdefault(section, {})
        config[section].setdefault("name", DEFAULTS[section]["name"])
        _check_named_section(section, config[section])
    for setting in schema.SETTINGS:
        if setting.section is None:
            config[setting.key] = setting.kind.check(setting.key, config.get(setting.key))
        elif setting.section in schema.FIXED_SECTIONS:
            value = config[setting.section].get(setting.name)
            config[setting.section][setting.name] = setting.kind.check(setting.key, value)
    folds, fold = config["data"]["folds"], config["data"]["fold"]
    if folds is not None and fold >= folds:
        raise UserError(f"data.fold must be in [0, {folds - 1}] for data.folds {folds}, "
                        f"got {fold}")
    return config


def save(config: dict, path: str) -> None:
    """Write the resolved configuration as YAML (atomically: a temporary file, then renamed)."""
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    os.replace(tmp, path)


def _check_named_section(section: str, options: dict) -> None:
    name = options.get("name")
    schema.BY_KEY[f"{section}.name"].kind.check(f"{section}.name", name)
    accepted = accepted_options(section, name)
    unknown = sorted(str(k) for k in set(options) - {"name"} - set(accepted))
    if unknown:
        raise UserError(f"unknown option{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(f'{section}.{k}' for k in unknown)[:200]} for {section} "
                        f"{name!r}; valid options: {', '.join(accepted)}")
    defaults = _option_defaults(section, name)
    for key, value in options.items():
        if key != "name":
            options[key] = _like_default(f"{section}.{key}", value, defaults.get(key))


def _option_defaults(section: str, name: str) -> dict:
    """The keyword defaults of the model builder or loss ``name``."""
    if section == "model":
        from keras_seg.models import MODELS as registry
    else:
        from keras_seg.losses.registry import LOSSES as registry
    return {k: p.default for k, p in inspect.signature(registry[name]).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _like_default(key: str, value, default):
    """A model or loss option of the type its default has (bool, int, float or text)."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        return schema.boolean().check(key, value)
    if isinstance(default, int):
        return schema.integer(-2**31, 2**31 - 1).check(key, value) if not isinstance(
            value, float) or value.is_integer() else schema.number(-1e9, 1e9).check(key, value)
    if isinstance(default, float):
        return schema.number(-1e9, 1e9).check(key, value)
    if isinstance(default, str) and not isinstance(value, str):
        raise UserError(f"{key} must be text, got {schema.quote(value)}")
    return value
