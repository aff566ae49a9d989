"""Reading and writing cgroup files, with errors that name the file."""

from __future__ import annotations

import os

from ....errors import from_oserror


def _path(directory: str, name: str) -> str:
    return os.path.join(directory, name)


def write(directory: str, name: str, value: object) -> None:
    """Write ``value`` to a cgroup control file (one write call, as the kernel wants)."""
    path = _path(directory, name)
    try:
        with open(path, "w") as file:
            file.write(str(value))
    except OSError as err:
        raise from_oserror("write", err, path) from None


def read_text(directory: str, name: str) -> str:
    """The contents of a control file."""
    path = _path(directory, name)
    try:
        with open(path) as file:
            return file.read()
    except OSError as err:
        raise from_oserror("read", err, path) from None


def parse_int(text: str) -> int | None:
    """An integer control value; ``"max"`` (v2 unlimited) is ``None``."""
    text = text.strip()
    return None if text == "max" else int(text)


def read_int(directory: str, name: str) -> int | None:
    """An integer control file (``None`` for ``max``)."""
    return parse_int(read_text(directory, name))


def read_optional_int(directory: str, name: str) -> int | None:
    """Like :func:`read_int`, ``None`` if the file does not exist on this kernel."""
    if not os.path.exists(_path(directory, name)):
        return None
    return read_int(directory, name)


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file (``memory.events``, ``cpu.stat``, ``memory.oom_control``)."""
    out = {}
    for line in read_text(directory, name).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def read_words(directory: str, name: str) -> list[str]:
    """A space-separated list file (``cgroup.controllers``); empty if missing."""
    if not os.path.exists(_path(directory, name)):
        return []
    return read_text(directory, name).split()


def read_pids(directory: str) -> list[int]:
    """The pids in ``cgroup.procs``; none if the directory is gone."""
    try:
        return [int(line) for line in read_text(directory, "cgroup.procs").split()]
    except FileNotFoundError:
        return []
