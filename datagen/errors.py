"""Every failure a user can cause, one class each; the CLI maps them to a message and an exit code."""

from __future__ import annotations


class DatagenError(Exception):
    """Base class: a problem the user can fix; `hint` says how."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(DatagenError):
    """The YAML config is invalid; the message starts with the key path."""

    def __init__(self, path: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint=hint)
        self.path = path
        self.problem = problem


class UsageError(DatagenError):
    """Bad command-line arguments."""


class DatabaseError(DatagenError):
    """The database cannot be reached or refused an operation; nothing was changed."""


class RefusedError(DatagenError):
    """The run would replace data and was not confirmed (no terminal and no --yes, or the user said no)."""


class ClusterError(DatagenError):
    """The Dask cluster cannot be reached, cannot run datagen, or lost a task beyond its retries."""


class OutputError(DatagenError):
    """A file datagen must write (the manifest) cannot be written."""


class ValidationFailed(DatagenError):
    """Generated or loaded data broke a validation check; nothing was written."""

    exit_code = 1
