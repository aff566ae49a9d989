"""The cgroup v1 driver: one directory per controller hierarchy, per container.

Same functions as :mod:`.v2` (chosen once, by :class:`~.CgroupLayout`):
:func:`uses`, :func:`controllers_for`, :func:`prepare_parent`,
:func:`apply_limits`, :func:`stats`, :func:`kill`, :func:`watch_files`.

Hierarchies used: ``memory``, ``cpu``, ``cpuacct``, ``pids`` and
``freezer`` (comounted ones, like ``cpu,cpuacct``, count once), plus the
cgroup2 mount of a hybrid host even when it has no controllers.  That
companion directory is part of a v1 container: where the kernel has
``cgroup.kill`` (5.14+) it kills everything at once and its core
``cpu.stat`` counts CPU time, so the ``freezer`` and ``cpuacct``
directories are not made at all.  Its files are cgroup2's, read and written
through :mod:`.v2`'s :func:`~.v2.write_kill` and :func:`~.v2.cpu_time`.
"""

from __future__ import annotations

import signal

from ....spec import Limits
from . import v2
from ._files import read_count, read_int, read_oom_kills, signal_all, write
from ._model import (
    CPU_PERIOD_US,
    CgroupStats,
    Dirs,
    Hierarchy,
    WatchFiles,
    quota_from_cpu_max,
    shares_from_weight,
)

VERSION = 1
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer")
#: v1 reports "unlimited" as a page-rounded LONG_MAX; anything above this is no limit.
UNLIMITED = 1 << 62


def uses(hierarchy: Hierarchy, hybrid_kill: bool = False) -> bool:
    """True for the hierarchies a container gets a directory in.

    ``hybrid_kill``: the host has a cgroup2 mount and the kernel has
    ``cgroup.kill``; then the cgroup2 directory kills (no freezer needed)
    and its ``cpu.stat`` counts CPU time (no cpuacct needed): two fewer
    cgroups to make, join and remove per container.
    """
    if hierarchy.version == 2:
        return True  # cgroup.kill, cgroup.events, cpu.stat
    if not hierarchy.controllers & set(CONTROLLERS):
        return False
    return not (hybrid_kill and hierarchy.controllers <= {"cpuacct", "freezer"})


def controllers_for(hierarchy: Hierarchy) -> frozenset[str]:
    """The controllers a container directory in ``hierarchy`` has: all of the hierarchy's
    (none in the cgroup2 companion)."""
    return hierarchy.controllers if hierarchy.version == 1 else frozenset()


def prepare_parent(parent: str, hierarchy: Hierarchy) -> None:
    """Nothing to do: a v1 child has every controller of its hierarchy."""


def apply_limits(path: str, controllers: frozenset[str], limits: Limits) -> None:
    """Write the non-``None`` limits that ``controllers`` carry; the rest is left alone."""
    if limits.memory is not None and "memory" in controllers:
        _set_memory(path, limits.memory)
    if limits.processes is not None and "pids" in controllers:
        write(path, "pids.max", limits.processes)
    if "cpu" in controllers:
        if limits.cpu_weight is not None:
            write(path, "cpu.shares", shares_from_weight(limits.cpu_weight))
        if limits.cpu_max is not None:
            write(path, "cpu.cfs_period_us", CPU_PERIOD_US)
            write(path, "cpu.cfs_quota_us", quota_from_cpu_max(limits.cpu_max))


def _set_memory(path: str, limit: int) -> None:
    """memory.memsw.limit_in_bytes must never be below memory.limit_in_bytes: order the writes.

    Setting memsw equal to the limit forbids swap, so the limit is the real cap
    (and ``memory.failcnt`` then stays 0: OOM kills are read from ``oom_kill``).
    A kernel without swap accounting has no memsw file, and no swap to forbid.
    """
    current = read_int(path, "memory.limit_in_bytes")
    if current is not None and limit > current:
        _set_memsw(path, limit)
        write(path, "memory.limit_in_bytes", limit)
    else:
        write(path, "memory.limit_in_bytes", limit)
        _set_memsw(path, limit)


def _set_memsw(path: str, limit: int) -> None:
    try:
        write(path, "memory.memsw.limit_in_bytes", limit)
    except FileNotFoundError:
        pass  # no swap accounting (CONFIG_MEMCG_SWAP off, or swapaccount=0)


def stats(dirs: Dirs) -> CgroupStats:
    """Memory, CPU and process figures of one container."""
    usage = peak = limit = None
    oom = 0
    memory = dirs.of("memory")
    if memory is not None:
        usage = read_count(memory, "memory.usage_in_bytes")
        peak = read_count(memory, "memory.max_usage_in_bytes")
        limit = read_int(memory, "memory.limit_in_bytes")
        if limit is not None and limit >= UNLIMITED:
            limit = None
        oom = read_oom_kills(f"{memory}/memory.oom_control")
    cpu = None
    cpuacct = dirs.of("cpuacct")
    if cpuacct is not None:
        cpu = read_count(cpuacct, "cpuacct.usage") / 1e9
    elif dirs.unified is not None:
        cpu = v2.cpu_time(dirs.unified)
    processes = process_limit = None
    pids = dirs.of("pids")
    if pids is not None:
        processes = read_count(pids, "pids.current")
        process_limit = read_int(pids, "pids.max")
    return CgroupStats(usage, peak, limit, cpu, processes, process_limit, oom)


def kill(dirs: Dirs) -> None:
    """One round of killing: ``cgroup.kill`` in the cgroup2 companion where the kernel has
    it; else freeze, SIGKILL everything, thaw (a frozen task dies only once thawed)."""
    freezer = dirs.of("freezer")
    if dirs.kill_dir is not None:
        v2.write_kill(dirs.kill_dir)
    elif freezer is not None:
        write(freezer, "freezer.state", "FROZEN")
        try:
            signal_all(dirs.paths, signal.SIGKILL)
        finally:
            write(freezer, "freezer.state", "THAWED")
    else:
        signal_all(dirs.paths, signal.SIGKILL)


def watch_files(dirs: Dirs) -> WatchFiles:
    """The files the guard opens: the memory controller's usage, ``memory.oom_control``
    and ``cgroup.event_control`` (eventfd notifications), the companion's
    ``cgroup.kill`` or else ``freezer.state``, and ``pids.current``.

    Membership is judged in the ``pids`` hierarchy when there is one: its
    task count lets the guard skip containers with no task outside.
    """
    memory, pids = dirs.of("memory"), dirs.of("pids")
    freezer = dirs.of("freezer")
    membership = pids or dirs.kill_dir or dirs.paths[0]
    return WatchFiles(
        memory_usage=f"{memory}/memory.usage_in_bytes" if memory else None,
        oom_events=f"{memory}/memory.oom_control" if memory else None,
        event_control=f"{memory}/cgroup.event_control" if memory else None,
        kill=f"{dirs.kill_dir}/cgroup.kill" if dirs.kill_dir else None,
        freezer_state=f"{freezer}/freezer.state" if freezer else None,
        procs=f"{membership}/cgroup.procs",
        pids_current=f"{pids}/pids.current" if pids else None,
    )
