"""Run configuration: defaults, YAML files, command-line overrides, validation."""

from __future__ import annotations

import copy
import os

import yaml

from keras_seg.errors import UserError

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
    },
    "training": {
        "epochs": 12,
        "batch_size": 16,
        "lr": 2e-3,
        "optimizer": "adam",
        "seed": 0,
        "mixed_precision": False,
        "jit": False,
        "distribute": "none",
        "find_lr": False,
        "resume": False,
    },
    "output": None,
}

# Sections whose keys are fixed; `model` and `loss` take builder / loss keyword arguments.
_FIXED_SECTIONS = ("data", "training")


def merge(base: dict, override: dict, path: str = "") -> dict:
    """Deep-merge ``override`` into a copy of ``base``; unknown keys of fixed sections fail."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}{key}"
        if path == "" and key not in base:
            raise UserError(f"unknown config section '{key}'; valid: {', '.join(base)}")
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


def accepted_options(section: str, name: str) -> set[str] | None:
    """Keyword options that model or loss ``name`` accepts; None if the name is unknown."""
    import inspect

    if section == "model":
        from keras_seg.models import _BUILDERS as registry
    else:
        from losses.registry import LOSSES as registry
    if name not in registry:
        return None
    return set(inspect.signature(registry[name]).parameters) - {"input_shape", "num_classes"}


def resolve(config_file: str | None = None, overrides: dict | None = None) -> dict:
    """Defaults, then the config file, then ``overrides`` (flags) on top.

    When a flag names another model or loss than the file, the file's options for the old one
    are kept only where the new one accepts them (``--loss focal`` drops Dice's ``batch``).
    """
    config = copy.deepcopy(DEFAULTS)
    if config_file:
        config = merge(config, load_yaml(config_file))
    for section in ("model", "loss"):
        new_name = (overrides or {}).get(section, {}).get("name")
        if new_name and new_name != config[section]["name"]:
            accepted = accepted_options(section, new_name) or set()
            config[section] = {k: v for k, v in config[section].items() if k in accepted}
    if overrides:
        config = merge(config, overrides)
    return config


def save(config: dict, path: str) -> None:
    """Write the resolved configuration as YAML."""
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
