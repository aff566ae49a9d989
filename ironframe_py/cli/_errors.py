"""Exit statuses of the ``ironframe`` command and the one-line form of its errors."""

from __future__ import annotations

import sqlite3

from ..errors import CleanupError, ContainerNotFound, SpecError

EXIT_ERROR = 125           #: an error of ironframe itself (bad input, OS call, not root)
EXIT_CANNOT_EXECUTE = 126  #: the command exists but cannot be executed
EXIT_NOT_FOUND = 127       #: the command does not exist
EXIT_LIMIT_KILLED = 137    #: a limit (memory, processes, escape) killed the command

#: What the user typed for each spec field (``limits.memory`` -> ``--memory``).
OPTION_FOR_FIELD = {
    "limits.memory": "--memory",
    "limits.cpu_weight": "--cpu-weight",
    "limits.cpu_max": "--cpu-max",
    "limits.processes": "--processes",
    "limits.disk": "--disk",
    "handle": "--handle",
    "env": "--env",
    "properties": "--property",
    "cwd": "--cwd",
    "argv": "CMD",
    "argv[0]": "CMD",
}


class CliError(Exception):
    """An error the command reports in one line, with its exit status."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def option_error(err: SpecError, typed: dict[str, str] | None = None) -> CliError:
    """``err`` in the words of the command line: the option and the text the user gave.

    ``typed`` maps an option to what was typed for it (``{"--memory": "1K"}``).
    """
    field = err.field.split("[", 1)[0] if err.field.startswith(("env[", "properties[")) else err.field
    option = OPTION_FOR_FIELD.get(field, err.field)
    value = (typed or {}).get(option)
    shown = f"{option} {value!r}" if value is not None else (
        f"{option} {err.value!r}" if err.value is not None else option)
    return CliError(f"{shown}: {err.rule}")


def describe_error(err: BaseException) -> list[str]:
    """The lines that report ``err`` (first the error, then one per cleanup failure or note)."""
    if isinstance(err, ContainerNotFound):
        lines = [f"no such container: {err.handle!r}"]
    elif isinstance(err, SpecError):
        lines = [str(option_error(err))]
    elif isinstance(err, sqlite3.Error):
        lines = [f"state store: {err}"]
    elif isinstance(err, CleanupError):
        lines = [str(err.message)] + [f"  {sub}" for sub in err.exceptions]
    else:
        lines = [str(err) or type(err).__name__]
    lines += [f"  {note}" for note in getattr(err, "__notes__", [])]
    return lines
