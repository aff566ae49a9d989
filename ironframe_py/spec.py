"""Frozen, validated value objects: :class:`Limits`, :class:`ContainerSpec`, :class:`ProcessSpec`.

Every object is checked completely when it is constructed, by a flat list of
small check functions, each raising :class:`~ironframe_py.SpecError` naming
the field and the rule.  Nothing here touches the operating system, so a bad
spec never leaves anything half-made behind.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import IO, Any, Union

from .errors import SpecError

__all__ = ["Limits", "ContainerSpec", "ProcessSpec", "parse_size", "format_size",
           "PIPE", "DEVNULL", "STDOUT"]

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT

# --- bounds ------------------------------------------------------------------

MIN_MEMORY = 1 << 20           # below 1 MiB a process cannot even start
MAX_BYTES = 1 << 62            # cgroup/job counters are signed 64-bit; leave headroom
MIN_DISK = 1 << 20             # smallest filesystem image / quota we make
MAX_PROCESSES = 4_194_304      # PID_MAX_LIMIT on 64-bit Linux
MIN_CPU_MAX = 0.01             # 1 ms per 100 ms period (cgroup minimum 1000 us)
MAX_CPU_MAX = 1024.0
MIN_CPU_WEIGHT, MAX_CPU_WEIGHT = 1, 10_000  # cgroup v2 cpu.weight range
MAX_HANDLE = 64

_HANDLE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# ASCII only: in Unicode mode \d takes every script's digits ("６４M" would be 64 MiB) and
# case folding takes the Kelvin sign for "k".
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*\Z", re.IGNORECASE | re.ASCII)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int, field: str = "size") -> int:
    """Parse ``"64M"``, ``"1.5G"``, ``"4096"`` (binary units) into bytes.

    Text is ASCII digits, an optional ASCII unit and ASCII spaces.  Integers
    pass through unchanged.  Raises :class:`SpecError` naming ``field`` for
    anything else.
    """
    if isinstance(text, bool):
        raise SpecError(field, "must be a size such as 512K, 64M or 2G", text)
    if isinstance(text, int):
        return text
    if not isinstance(text, str):
        raise SpecError(field, "must be a size such as 512K, 64M or 2G", text)
    match = _SIZE_RE.match(text)
    if not match:
        raise SpecError(field, "must be a size such as 512K, 64M or 2G", text)
    number, unit = match.groups()
    value = float(number) * _UNITS[unit.upper()]
    if value != int(value):
        raise SpecError(field, "must be a whole number of bytes", text)
    return int(value)


def format_size(size: int | None) -> str:
    """Format bytes as a short binary size (``67108864`` -> ``"64M"``)."""
    if size is None:
        return "-"
    for unit in ("T", "G", "M", "K"):
        scale = _UNITS[unit]
        if size >= scale:
            value = size / scale
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{size}B"


# --- checks --------------------------------------------------------------------

def _check_int_range(field: str, value: Any, low: int, high: int, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, f"must be an integer {what}", value)
    if not low <= value <= high:
        raise SpecError(field, f"must be between {low} and {high} {what}", value)


def _no_nul(field: str, value: str) -> None:
    if "\x00" in value:
        raise SpecError(field, "must not contain a NUL character", value)


def _check_str_mapping(field: str, mapping: Any, *, env: bool) -> dict[str, str]:
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise SpecError(field, "must be a mapping of str to str", mapping)
    out: dict[str, str] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not key:
            raise SpecError(field, "keys must be non-empty strings", key)
        if not isinstance(value, str):
            raise SpecError(f"{field}[{key!r}]", "must be a string", value)
        _no_nul(f"{field}[{key!r}]", key)
        _no_nul(f"{field}[{key!r}]", value)
        if env and "=" in key:
            raise SpecError(f"{field}[{key!r}]", "environment names must not contain '='", key)
        out[key] = value
    return out


def check_handle(handle: Any) -> None:
    """Raise :class:`SpecError` unless ``handle`` is a valid container handle.

    A handle is 1 to 64 characters from ``[A-Za-z0-9_.-]``, starts with a
    letter or digit and contains no ``..``.  It names a directory, a cgroup
    and (on Windows) part of a user name, so anything path-like is refused.
    """
    field = "handle"
    if not isinstance(handle, str):
        raise SpecError(field, "must be a string", handle)
    if not handle:
        raise SpecError(field, "must not be empty", handle)
    _no_nul(field, handle)
    if len(handle) > MAX_HANDLE:
        raise SpecError(field, f"must be at most {MAX_HANDLE} characters", handle)
    if "/" in handle or "\\" in handle:
        raise SpecError(field, "must not contain a path separator", handle)
    if ".." in handle:
        raise SpecError(field, "must not contain '..'", handle)
    if not _HANDLE_RE.match(handle):
        raise SpecError(field, "must start with a letter or digit and use only "
                        "letters, digits, '_', '.' and '-'", handle)


# --- Limits ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of a container; ``None`` means unlimited.

    :param memory: bytes of memory for the whole container (int or ``"64M"``).
    :param cpu_weight: relative CPU share, 1..10000 (100 is the default weight).
    :param cpu_max: hard CPU cap in cores (``0.5`` = half of one core).
    :param processes: most processes (and threads on Linux) alive at once.
    :param disk: bytes of disk the container directory may hold (int or ``"100M"``).
    """

    memory: int | None = None
    cpu_weight: int | None = None
    cpu_max: float | None = None
    processes: int | None = None
    disk: int | None = None

    def __post_init__(self) -> None:
        for name in ("memory", "disk"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, parse_size(value, f"limits.{name}"))
        for check in _LIMIT_CHECKS:
            check(self)

    def replace(self, **changes: Any) -> Limits:
        """Return a copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The limits as a plain dict (for JSON)."""
        return dataclasses.asdict(self)


def _check_size_range(field: str, value: Any, low: int, high: int) -> None:
    """Like :func:`_check_int_range`, with the bounds written as sizes (``1M``)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, "must be a size in bytes (an integer, or text such as 64M)", value)
    if not low <= value <= high:
        raise SpecError(field, f"must be between {format_size(low)} and {format_size(high)}",
                        value)


def _check_memory(limits: Limits) -> None:
    _check_size_range("limits.memory", limits.memory, MIN_MEMORY, MAX_BYTES)


def _check_disk(limits: Limits) -> None:
    _check_size_range("limits.disk", limits.disk, MIN_DISK, MAX_BYTES)


def _check_processes(limits: Limits) -> None:
    _check_int_range("limits.processes", limits.processes, 1, MAX_PROCESSES, "processes")


def _check_cpu_weight(limits: Limits) -> None:
    _check_int_range("limits.cpu_weight", limits.cpu_weight, MIN_CPU_WEIGHT, MAX_CPU_WEIGHT, "")


def _check_cpu_max(limits: Limits) -> None:
    value = limits.cpu_max
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError("limits.cpu_max", "must be a number of cores", value)
    if not MIN_CPU_MAX <= value <= MAX_CPU_MAX:  # also rejects NaN
        raise SpecError("limits.cpu_max", f"must be between {MIN_CPU_MAX} and {MAX_CPU_MAX} cores",
                        value)
    object.__setattr__(limits, "cpu_max", float(value))


_LIMIT_CHECKS = [_check_memory, _check_disk, _check_processes, _check_cpu_weight, _check_cpu_max]


# --- ContainerSpec -----------------------------------------------------------------

ISOLATIONS = ("user", "job")

@dataclasses.dataclass(frozen=True)
class ContainerSpec:
    """What to create: handle, limits, default environment and properties.

    :param handle: the container's name; a random one is chosen when ``None``.
    :param limits: the :class:`Limits` (default: none).
    :param env: environment merged under every process's own environment.
    :param properties: free-form string metadata kept with the container.
    :param network: ``"loopback"`` (the Linux default when ``None``): the
        container gets its own network namespace with only ``lo`` -- no route
        out, the host's loopback services out of reach; ``"host"``: it shares
        the host's network stack, as it did before network namespaces.
    :param isolation: ``"user"`` (default): a user of its own, a directory only it can
        open, a disk quota, and the limits; ``"job"`` (Windows only): the limits and
        kill-on-close of a Job Object, the guard and output capture, run as the
        caller's own user -- no user, ACL or quota, and no administrator rights needed.
    """

    handle: str | None = None
    limits: Limits = dataclasses.field(default_factory=Limits)
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    properties: Mapping[str, str] = dataclasses.field(default_factory=dict)
    network: str | None = None
    isolation: str = "user"

    def __post_init__(self) -> None:
        if self.handle is not None:
            check_handle(self.handle)
        if not isinstance(self.limits, Limits):
            raise SpecError("limits", "must be an ironframe_py.Limits", self.limits)
        if self.isolation not in ISOLATIONS:
            raise SpecError("isolation", f"must be one of {', '.join(map(repr, ISOLATIONS))}",
                            self.isolation)
        object.__setattr__(self, "env", MappingProxyType(_check_str_mapping("env", self.env, env=True)))
        object.__setattr__(self, "properties",
                           MappingProxyType(_check_str_mapping("properties", self.properties, env=False)))
        _check_network(self.network)


NETWORKS = ("loopback", "host")
"""The values of :attr:`ContainerSpec.network` (``None``: the platform's default)."""


def _check_network(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or value not in NETWORKS):
        raise SpecError("network", f"must be one of {', '.join(map(repr, NETWORKS))} or None",
                        value)


# --- ProcessSpec ---------------------------------------------------------------------

StdioSpec = Union[None, int, IO[Any]]


def _check_stdio(field: str, value: Any, allow_stdout: bool) -> None:
    if value is None or value in (PIPE, DEVNULL):
        return
    if value == STDOUT and not isinstance(value, bool):
        if allow_stdout:
            return
        raise SpecError(field, "STDOUT is only valid for stderr", value)
    if isinstance(value, bool):
        raise SpecError(field, "must be None, PIPE, DEVNULL, a file descriptor or a file", value)
    if isinstance(value, int):
        if value < 0:
            raise SpecError(field, "a file descriptor must be >= 0", value)
        return
    if hasattr(value, "fileno"):
        return
    raise SpecError(field, "must be None, PIPE, DEVNULL, a file descriptor or a file", value)


def check_container_path(field: str, path: str) -> str:
    """Normalise a container-relative path; refuse one that escapes the container.

    ``"/"`` and ``""`` are the container directory itself; ``"a/b"`` and
    ``"/a/b"`` both name ``<container>/a/b``.  Returns the normalised
    relative path (``""`` for the root) using ``/`` separators.
    """
    if not isinstance(path, str):
        raise SpecError(field, "must be a string path inside the container", path)
    _no_nul(field, path)
    parts: list[str] = []
    for part in re.split(r"[\\/]+", path):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise SpecError(field, "must not escape the container directory", path)
            parts.pop()
            continue
        if re.match(r"[A-Za-z]:\Z", part):
            raise SpecError(field, "must be relative to the container, not a drive path", path)
        parts.append(part)
    return "/".join(parts)


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
    """A process to run in a container, in the spirit of :class:`subprocess.Popen`.

    :param argv: program and arguments; ``argv[0]`` is looked up on the
        ``PATH`` of the process environment when it has no ``/``.
    :param env: environment of this process, over the container's defaults.
    :param cwd: working directory relative to the container directory
        (``"/"`` is the container directory itself); it must exist.
    :param stdin: ``None`` (inherit), ``PIPE``, ``DEVNULL``, an fd or a file.
    :param stdout: as ``stdin``.
    :param stderr: as ``stdin``, or ``STDOUT`` to merge into stdout.
    :param text: open pipes in text mode (UTF-8) instead of bytes.
    """

    argv: Sequence[str]
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cwd: str = "/"
    stdin: StdioSpec = None
    stdout: StdioSpec = None
    stderr: StdioSpec = None
    text: bool = False

    def __post_init__(self) -> None:
        argv = self.argv
        if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence):
            raise SpecError("argv", "must be a non-empty list of strings", argv)
        if not argv:
            raise SpecError("argv", "must not be empty", argv)
        for index, arg in enumerate(argv):
            if not isinstance(arg, str):
                raise SpecError(f"argv[{index}]", "must be a string", arg)
            _no_nul(f"argv[{index}]", arg)
        if not argv[0]:
            raise SpecError("argv[0]", "must name an executable", argv[0])
        object.__setattr__(self, "argv", tuple(argv))
        object.__setattr__(self, "env", MappingProxyType(_check_str_mapping("env", self.env, env=True)))
        object.__setattr__(self, "cwd", check_container_path("cwd", self.cwd))
        _check_stdio("stdin", self.stdin, allow_stdout=False)
        _check_stdio("stdout", self.stdout, allow_stdout=False)
        _check_stdio("stderr", self.stderr, allow_stdout=True)
        if not isinstance(self.text, bool):
            raise SpecError("text", "must be True or False", self.text)
