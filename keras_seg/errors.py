"""Errors a user can cause: reported in one line, CLI exit status 2."""


class UserError(ValueError):
    """Bad input from the user (path, file, name, value): the message names the culprit."""
