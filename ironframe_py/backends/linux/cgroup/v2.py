"""The cgroup v2 driver: one directory per container in the unified hierarchy.

Same functions as :mod:`.v1` (chosen once, by :class:`~.CgroupLayout`):
:func:`uses`, :func:`controllers_for`, :func:`prepare_parent`,
:func:`apply_limits`, :func:`stats`, :func:`kill`, :func:`watch_files`.

The core interface files every cgroup2 directory has, with or without
controllers -- ``cgroup.kill`` (kernel 5.14+) and ``cpu.stat``'s
``usage_usec`` -- are read and written here only; :mod:`.v1` calls
:func:`write_kill` and :func:`cpu_time` for the controller-less cgroup2
directory of a hybrid host.
"""

from __future__ import annotations

import signal

from ....spec import Limits
from ._files import (
    read_count,
    read_int,
    read_keyed,
    read_oom_kills,
    signal_all,
    write,
)
from ._model import CPU_PERIOD_US, CgroupStats, Dirs, Hierarchy, WatchFiles, quota_from_cpu_max

VERSION = 2
#: Controllers enabled for the service's containers (``cgroup.subtree_control``).
CONTROLLERS = ("memory", "cpu", "pids")


def uses(hierarchy: Hierarchy, hybrid_kill: bool = False) -> bool:
    """The unified hierarchy is the only one (``hybrid_kill`` matters to v1 only)."""
    return hierarchy.version == 2


def controllers_for(hierarchy: Hierarchy) -> frozenset[str]:
    """The controllers a container directory gets: ours that the hierarchy has."""
    return frozenset(CONTROLLERS) & hierarchy.controllers


def prepare_parent(parent: str, hierarchy: Hierarchy) -> None:
    """Enable our controllers for the children of the service's parent directory."""
    wanted = sorted(controllers_for(hierarchy))
    write(parent, "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))


def apply_limits(path: str, controllers: frozenset[str], limits: Limits) -> None:
    """Write the non-``None`` limits that ``controllers`` carry; the rest is left alone."""
    if limits.memory is not None and "memory" in controllers:
        write(path, "memory.max", limits.memory)
        try:  # no swap for the container, so memory.max is the real cap
            write(path, "memory.swap.max", 0)
        except FileNotFoundError:
            pass  # a kernel without swap accounting has no swap to forbid
    if limits.processes is not None and "pids" in controllers:
        write(path, "pids.max", limits.processes)
    if "cpu" in controllers:
        if limits.cpu_weight is not None:
            write(path, "cpu.weight", limits.cpu_weight)
        if limits.cpu_max is not None:
            write(path, "cpu.max", f"{quota_from_cpu_max(limits.cpu_max)} {CPU_PERIOD_US}")


def _memory_peak(path: str) -> int | None:
    try:
        return read_int(path, "memory.peak")
    except FileNotFoundError:
        return None  # before kernel 5.19


def cpu_time(path: str) -> float:
    """CPU seconds used in the cgroup2 directory ``path`` (a core file: no controller needed)."""
    return read_keyed(path, "cpu.stat").get("usage_usec", 0) / 1e6


def stats(dirs: Dirs) -> CgroupStats:
    """Memory, CPU and process figures of one container."""
    path = dirs.unified
    if path is None:  # no directory recorded (creation stopped before it): nothing to read
        return CgroupStats(None, None, None, None, None, None, 0)
    usage = peak = limit = None
    oom = 0
    if dirs.of("memory") is not None:
        usage = read_count(path, "memory.current")
        peak = _memory_peak(path)
        limit = read_int(path, "memory.max")
        oom = read_oom_kills(f"{path}/memory.events")
    processes = process_limit = None
    if dirs.of("pids") is not None:
        processes = read_count(path, "pids.current")
        process_limit = read_int(path, "pids.max")
    return CgroupStats(usage, peak, limit, cpu_time(path), processes, process_limit, oom)


def write_kill(path: str) -> None:
    """Kill every process in ``path`` and below, atomically (``cgroup.kill``, 5.14+)."""
    write(path, "cgroup.kill", 1)


def kill(dirs: Dirs) -> None:
    """One round of killing: ``cgroup.kill`` where the kernel has it, else SIGKILL each."""
    if dirs.kill_dir is not None:
        write_kill(dirs.kill_dir)
    else:
        signal_all(dirs.paths, signal.SIGKILL)


def watch_files(dirs: Dirs) -> WatchFiles:
    """The files the guard opens: ``memory.current``, ``memory.events`` (it signals
    ``POLLPRI`` on change), ``cgroup.kill``, ``cgroup.procs``, ``pids.current``."""
    path = dirs.unified
    assert path is not None, "a v2 container has its directory in the unified hierarchy"
    memory = dirs.of("memory") is not None
    return WatchFiles(
        memory_usage=f"{path}/memory.current" if memory else None,
        oom_events=f"{path}/memory.events" if memory else None,
        event_control=None,
        kill=f"{path}/cgroup.kill" if dirs.cgroup_kill else None,
        freezer_state=None,
        procs=f"{path}/cgroup.procs",
        pids_current=f"{path}/pids.current" if dirs.of("pids") is not None else None,
    )
