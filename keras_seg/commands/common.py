"""Argument parsing shared by the commands: one-line errors, reader options, numbers."""

from __future__ import annotations

import argparse

import yaml


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def data_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as YAML (``true``, ``3``, ``[a, b]``, text)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        return key, value


def add_data_option(p: argparse.ArgumentParser,
                    help_text: str = "a data reader option (repeatable)") -> None:
    p.add_argument("--data-option", type=data_option, action="append", default=[],
                   metavar="KEY=VALUE", help=help_text)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
