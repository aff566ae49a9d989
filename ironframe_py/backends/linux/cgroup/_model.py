"""The facts both drivers (:mod:`.v1`, :mod:`.v2`) work on: plain data, no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from ....spec import Limits


@dataclasses.dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy and where this process sits in it."""

    version: int
    controllers: frozenset[str]
    mount: str
    current: str  # this process's cgroup, relative to the mount point ("/" = the mount itself)

    @property
    def name(self) -> str:
        """``"memory"``, ``"cpu,cpuacct"``, ``"unified"``..."""
        return "unified" if self.version == 2 else ",".join(sorted(self.controllers))


@dataclasses.dataclass(frozen=True)
class Dirs:
    """One container's cgroup directories, sorted out once by what each one carries.

    ``paths`` holds every directory (one per hierarchy); ``controllers`` maps
    a controller name to the directory whose hierarchy has it; ``unified`` is
    the directory in the cgroup2 hierarchy (the only one on v2, the
    controller-less companion on a hybrid v1 host, else ``None``);
    ``cgroup_kill`` says the kernel has ``cgroup.kill`` there (5.14+).
    """

    paths: tuple[str, ...]
    controllers: Mapping[str, str]
    unified: str | None
    cgroup_kill: bool

    def of(self, controller: str) -> str | None:
        """The directory that carries ``controller``, or ``None``."""
        return self.controllers.get(controller)

    def controllers_of(self, path: str) -> frozenset[str]:
        """The controllers that the directory ``path`` carries."""
        return frozenset(name for name, where in self.controllers.items() if where == path)

    @property
    def kill_dir(self) -> str | None:
        """The directory whose ``cgroup.kill`` kills everything, if the kernel has one."""
        return self.unified if self.cgroup_kill else None


@dataclasses.dataclass(frozen=True)
class CgroupStats:
    """Usage read from the cgroup files; ``None`` where this host has no such file."""

    memory_usage: int | None
    memory_peak: int | None
    memory_limit: int | None
    cpu_time: float | None
    processes: int | None
    process_limit: int | None
    oom_kills: int


@dataclasses.dataclass(frozen=True)
class WatchFiles:
    """The control files a watcher (the guard) opens for one container; ``None`` where
    this host has no such file."""

    memory_usage: str | None   # memory.usage_in_bytes (v1) / memory.current (v2)
    oom_events: str | None     # memory.oom_control (v1) / memory.events (v2): "oom_kill N"
    event_control: str | None  # v1 cgroup.event_control, for eventfd notifications
    kill: str | None           # cgroup.kill (kernel 5.14+)
    freezer_state: str | None  # v1 freezer.state, to kill without cgroup.kill
    procs: str                 # the cgroup.procs that membership is judged by
    pids_current: str | None   # pids.current


class Driver(Protocol):
    """What :mod:`.v1` and :mod:`.v2` both offer (as runc's ``fs`` and ``fs2`` do): the
    layout picks one module once and everything else calls it."""

    VERSION: int

    def uses(self, hierarchy: Hierarchy, hybrid_kill: bool = False) -> bool:
        """True for the hierarchies a container gets a directory in."""

    def controllers_for(self, hierarchy: Hierarchy) -> frozenset[str]:
        """The controllers of a container directory in ``hierarchy``."""

    def prepare_parent(self, parent: str, hierarchy: Hierarchy) -> None:
        """Make the service's (existing) parent directory ready for container children."""

    def apply_limits(self, path: str, controllers: frozenset[str], limits: Limits) -> None:
        """Write the non-``None`` limits that ``controllers`` carry into ``path``."""

    def stats(self, dirs: Dirs) -> CgroupStats:
        """Memory, CPU and process figures of one container."""

    def kill(self, dirs: Dirs) -> None:
        """One round of killing every process of one container."""

    def watch_files(self, dirs: Dirs) -> WatchFiles:
        """The control files the guard opens for one container."""


# --- units shared by both versions ---------------------------------------------------------

CPU_PERIOD_US = 100_000


def shares_from_weight(weight: int) -> int:
    """cgroup v1 ``cpu.shares`` for a v2-style weight (100 ↔ 1024), within 2..262144."""
    return max(2, min(262_144, weight * 1024 // 100))


def quota_from_cpu_max(cpu_max: float, period: int = CPU_PERIOD_US) -> int:
    """CFS quota in microseconds per ``period`` for ``cpu_max`` cores (at least 1000)."""
    return max(1000, round(cpu_max * period))
