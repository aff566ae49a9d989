"""Reading and writing cgroup files, with errors that name the file."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from ....errors import from_oserror


def _path(directory: str, name: str) -> str:
    return os.path.join(directory, name)


def write(directory: str, name: str, value: object) -> None:
    """Write ``value`` to a cgroup control file (one write call, as the kernel wants).

    The file is never created: a name this kernel does not have is
    :class:`~ironframe_py.NotFound`, on cgroupfs and on a fake tree alike.
    """
    path = _path(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as err:
        raise from_oserror("write", err, path) from None


def read_path(path: str) -> str:
    """The contents of the control file at ``path``."""
    try:
        with open(path) as file:
            return file.read()
    except OSError as err:
        raise from_oserror("read", err, path) from None


def read_text(directory: str, name: str) -> str:
    """The contents of a control file."""
    return read_path(_path(directory, name))


def parse_int(text: str) -> int | None:
    """An integer control value; ``"max"`` (unlimited) is ``None``."""
    text = text.strip()
    return None if text == "max" else int(text)


def read_int(directory: str, name: str) -> int | None:
    """An integer control file (``None`` for ``max``)."""
    return parse_int(read_text(directory, name))


def read_count(directory: str, name: str) -> int:
    """A control file that always holds a number (a usage, a counter)."""
    value = read_int(directory, name)
    if value is None:
        raise ValueError(f"{_path(directory, name)} says 'max' where a number belongs")
    return value


def parse_keyed(text: str) -> dict[str, int]:
    """A flat-keyed file's ``name value`` lines; lines without a number are left out."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file (``memory.events``, ``cpu.stat``, ``memory.oom_control``)."""
    return parse_keyed(read_text(directory, name))


def read_oom_kills(path: str) -> int:
    """The kernel's OOM-kill count, ``oom_kill N``, in ``memory.oom_control`` (v1) or
    ``memory.events`` (v2); 0 before the first kill on kernels that omit the line."""
    return parse_keyed(read_path(path)).get("oom_kill", 0)


def read_words(directory: str, name: str) -> list[str]:
    """A space-separated list file (``cgroup.controllers``); empty if missing."""
    if not os.path.exists(_path(directory, name)):
        return []
    return read_text(directory, name).split()


def read_pids(directory: str) -> list[int]:
    """The pids in ``cgroup.procs``; none if the directory is gone, or is no directory
    (a record of a release that named a cgroup after a kernel file, see
    :func:`~.remove_dir`)."""
    try:
        text = read_text(directory, "cgroup.procs")
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return []
        raise
    return [int(line) for line in text.split()]


def all_pids(directories: Iterable[str]) -> list[int]:
    """Every process in any of ``directories``, sorted."""
    found: set[int] = set()
    for directory in directories:
        found.update(read_pids(directory))
    return sorted(found)


def signal_all(directories: Iterable[str], sig: int) -> None:
    """Send ``sig`` to every process in ``directories`` (one that exits meanwhile is fine)."""
    for pid in all_pids(directories):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
