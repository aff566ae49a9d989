"""Linux cgroups, v1 and v2, behind one interface (tier 2).

* :func:`discover` reads ``/proc/self/mountinfo`` and ``/proc/self/cgroup``.
* :class:`CgroupLayout` knows a service's parent directories in each
  hierarchy used and names a container's directories.
* :func:`create_dir` / :func:`remove_dir` make and remove one directory
  (one recorded resource each).
* :class:`CgroupSet` is the runtime view of one container's directories:
  join, limits, usage, kill.

Hierarchies used: on v1 (and hybrid) hosts ``memory``, ``cpu``, ``cpuacct``,
``pids`` and ``freezer``, plus the cgroup2 mount when there is one, even with
no controllers, for its ``cgroup.kill`` (kernel 5.14+) and
``cgroup.events``; on v2 hosts the single unified hierarchy.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import time
from collections.abc import Iterable, Sequence

from ....errors import IronframeError, from_oserror, os_error
from ....spec import Limits
from ..mountinfo import MOUNTINFO
from ..mountinfo import read as read_mounts
from . import _files
from ._files import read_int, read_keyed, write

__all__ = ["Hierarchy", "discover", "CgroupLayout", "CgroupSet", "CgroupStats", "create_dir",
           "apply_limits",
           "remove_dir", "shares_from_weight", "quota_from_cpu_max", "CPU_PERIOD_US"]

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer")
CPU_PERIOD_US = 100_000
V1_UNLIMITED = 1 << 62  # v1 reports "unlimited" as a page-rounded LONG_MAX; anything above is none


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


def discover(mountinfo: str = MOUNTINFO, proc_cgroup: str = "/proc/self/cgroup",
             ) -> list[Hierarchy]:
    """Every cgroup hierarchy mounted here that has controllers (or is v2), with this
    process's place in it."""
    memberships: dict[frozenset[str] | str, str] = {}
    with open(proc_cgroup) as file:
        for line in file:
            hier_id, controllers, path = line.rstrip("\n").split(":", 2)
            memberships["unified" if hier_id == "0" else frozenset(controllers.split(","))] = path
    found: dict[frozenset[str] | str, Hierarchy] = {}
    for mount in read_mounts(mountinfo):
        key: frozenset[str] | str
        if mount.fstype == "cgroup2":
            controllers = frozenset(_files.read_words(mount.mount_point, "cgroup.controllers"))
            key, version = "unified", 2
        elif mount.fstype == "cgroup":
            controllers = frozenset(o for o in mount.super_options.split(",") if o in _ALL_V1)
            key, version = controllers, 1
            if not controllers:
                continue  # a named hierarchy (name=systemd) carries no controller
        else:
            continue
        if key in found or key not in memberships:
            continue
        current = _relative(memberships[key], mount.root)
        found[key] = Hierarchy(version, controllers, mount.mount_point, current)
    return list(found.values())


_ALL_V1 = frozenset(V1_CONTROLLERS) | {"cpuset", "devices", "blkio", "net_cls", "net_prio",
                                        "perf_event", "hugetlb", "rdma", "misc"}


def _relative(path: str, mount_root: str) -> str:
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root):] or "/"
    return path


# --- limits → files ---------------------------------------------------------------------

def shares_from_weight(weight: int) -> int:
    """cgroup v1 ``cpu.shares`` for a v2-style weight (100 ↔ 1024), within 2..262144."""
    return max(2, min(262_144, weight * 1024 // 100))


def quota_from_cpu_max(cpu_max: float, period: int = CPU_PERIOD_US) -> int:
    """CFS quota in microseconds per ``period`` for ``cpu_max`` cores (at least 1000)."""
    return max(1000, round(cpu_max * period))


def apply_limits(path: str, limits: Limits) -> None:
    """Write the limits that this directory's controllers carry; unset fields are left alone."""
    has = lambda name: os.path.exists(os.path.join(path, name))  # noqa: E731
    if limits.memory is not None:
        if has("memory.limit_in_bytes"):
            _set_v1_memory(path, limits.memory, has("memory.memsw.limit_in_bytes"))
        elif has("memory.max"):
            write(path, "memory.max", limits.memory)
            if has("memory.swap.max"):
                write(path, "memory.swap.max", 0)
    if limits.processes is not None and has("pids.max"):
        write(path, "pids.max", limits.processes)
    if limits.cpu_weight is not None:
        if has("cpu.shares"):
            write(path, "cpu.shares", shares_from_weight(limits.cpu_weight))
        elif has("cpu.weight"):
            write(path, "cpu.weight", limits.cpu_weight)
    if limits.cpu_max is not None:
        if has("cpu.cfs_quota_us"):
            write(path, "cpu.cfs_period_us", CPU_PERIOD_US)
            write(path, "cpu.cfs_quota_us", quota_from_cpu_max(limits.cpu_max))
        elif has("cpu.max"):
            write(path, "cpu.max", f"{quota_from_cpu_max(limits.cpu_max)} {CPU_PERIOD_US}")


def _set_v1_memory(path: str, limit: int, memsw: bool) -> None:
    """memory.memsw.limit_in_bytes must never be below memory.limit_in_bytes: order the writes.

    Setting memsw equal to the limit forbids swap, so the limit is the real cap
    (and ``memory.failcnt`` then stays 0: OOM kills are read from ``oom_kill``).
    """
    if not memsw:
        write(path, "memory.limit_in_bytes", limit)
        return
    if limit > read_int(path, "memory.limit_in_bytes"):
        write(path, "memory.memsw.limit_in_bytes", limit)
        write(path, "memory.limit_in_bytes", limit)
    else:
        write(path, "memory.limit_in_bytes", limit)
        write(path, "memory.memsw.limit_in_bytes", limit)


def create_dir(path: str, limits: Limits) -> None:
    """Make one container cgroup directory and write the limits its controllers carry."""
    try:
        os.mkdir(path)
    except FileExistsError:
        raise os_error("mkdir", errno=errno.EEXIST, target=path,
                       strerror="cgroup exists already (left by another host?)") from None
    except OSError as err:
        raise from_oserror("mkdir", err, path) from None
    apply_limits(path, limits)


def remove_dir(path: str, patience: float = 2.0) -> None:
    """rmdir one cgroup; gone already is success, EBUSY is retried with backoff for ``patience`` s."""
    delay, deadline = 0.001, time.monotonic() + patience
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                error = from_oserror("rmdir", err, path)
                if err.errno == errno.EBUSY:
                    error.add_note(f"retried for {patience:.1f}s: processes are still in it")
                raise error from None
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


# --- layout ---------------------------------------------------------------------------------

class CgroupLayout:
    """Where one service keeps its cgroups: ``<parent>/<service_name>/<handle>`` per hierarchy.

    ``parent`` (a path relative to each hierarchy's root) defaults to the cgroup
    the calling process is in.
    """

    def __init__(self, service_name: str, parent: str | None = None,
                 hierarchies: Sequence[Hierarchy] | None = None) -> None:
        self.service_name = service_name
        self.hierarchies = list(hierarchies if hierarchies is not None else discover())
        self.mode = _host_mode(self.hierarchies)
        hybrid_kill = self.mode == "v1" and _cgroup_kill_available() and any(
            h.version == 2 for h in self.hierarchies)
        self.used = [h for h in self.hierarchies if _is_used(h, self.mode, hybrid_kill)]
        self.parents = [os.path.join(h.mount, (parent or h.current).strip("/"), service_name)
                        .replace("//", "/") for h in self.used]

    def __repr__(self) -> str:
        return f"<CgroupLayout {self.mode} {self.service_name} in {[h.name for h in self.used]}>"

    def container_dirs(self, handle: str) -> list[str]:
        """The container's directory in each hierarchy used."""
        return [os.path.join(parent, handle) for parent in self.parents]

    def ensure_parents(self) -> None:
        """Create the service's parent directories (on v2, enabling controllers for children)."""
        for hierarchy, parent in zip(self.used, self.parents):
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as err:
                raise from_oserror("mkdir", err, parent) from None
            if self.mode == "v2":
                wanted = sorted({"memory", "cpu", "pids"} & hierarchy.controllers)
                write(parent, "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))

    def remove_parents(self) -> None:
        """Remove the parent directories that no container uses any more.

        A parent that still holds a container directory (another service on
        the same root) stays.  An empty one can still answer EBUSY for a
        moment while the kernel retires a just-removed child, so that is
        retried like any cgroup rmdir.
        """
        for parent in self.parents:
            try:
                children = [entry for entry in os.scandir(parent) if entry.is_dir()]
            except FileNotFoundError:
                continue
            if not children:
                remove_dir(parent)


def _host_mode(hierarchies: Iterable[Hierarchy]) -> str:
    v1 = {c for h in hierarchies if h.version == 1 for c in h.controllers}
    return "v1" if "memory" in v1 or "pids" in v1 else "v2"


def _cgroup_kill_available(release: str | None = None) -> bool:
    """``cgroup.kill`` exists from kernel 5.14 on."""
    numbers = (release or os.uname().release).split("-")[0].split(".")
    try:
        return (int(numbers[0]), int(numbers[1])) >= (5, 14)
    except (IndexError, ValueError):
        return False


def _is_used(hierarchy: Hierarchy, mode: str, hybrid_kill: bool = False) -> bool:
    if hierarchy.version == 2:
        return True  # v2 hosts: everything; hybrid: cgroup.kill, cgroup.events, cpu.stat
    if mode != "v1" or not hierarchy.controllers & set(V1_CONTROLLERS):
        return False
    # On a hybrid host whose kernel has cgroup.kill, the cgroup2 directory kills
    # (no freezer needed) and its cpu.stat counts CPU time (no cpuacct needed):
    # two fewer cgroups to make, join and remove per container.
    return not (hybrid_kill and hierarchy.controllers <= {"cpuacct", "freezer"})


# --- runtime view ------------------------------------------------------------------------------

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


class CgroupSet:
    """One container's cgroup directories (one per hierarchy)."""

    def __init__(self, dirs: Sequence[str]) -> None:
        self.dirs = list(dirs)
        self.memory = self._with("memory.limit_in_bytes", "memory.max")
        # v1 cpuacct first; else the cpu.stat that counts usage (v1 cpu's has no usage_usec)
        self.cpuacct = self._with("cpuacct.usage") or self._with_usage_usec()
        self.pids_dir = self._with("pids.max")
        self.freezer = self._with("freezer.state")
        self.kill_dir = self._with("cgroup.kill")

    def __repr__(self) -> str:
        return f"<CgroupSet {self.dirs}>"

    def _with_usage_usec(self) -> str | None:
        for path in self.dirs:
            stat_path = os.path.join(path, "cpu.stat")
            if os.path.exists(stat_path) and "usage_usec" in read_keyed(path, "cpu.stat"):
                return path
        return None

    def _with(self, *names: str) -> str | None:
        for path in self.dirs:
            if any(os.path.exists(os.path.join(path, name)) for name in names):
                return path
        return None

    def procs_paths(self) -> list[str]:
        """The ``cgroup.procs`` files a new process must join, one per hierarchy."""
        return [os.path.join(path, "cgroup.procs") for path in self.dirs]

    def pids(self) -> list[int]:
        """Every process in any of the directories."""
        found: set[int] = set()
        for path in self.dirs:
            found.update(_files.read_pids(path))
        return sorted(found)

    def set_limits(self, limits: Limits) -> None:
        """Change the non-``None`` limits in every directory that carries them."""
        for path in self.dirs:
            apply_limits(path, limits)

    def stats(self) -> CgroupStats:
        """Memory, CPU and process figures."""
        memory = self.memory
        usage = peak = limit = None
        oom = 0
        if memory is not None:
            if os.path.exists(os.path.join(memory, "memory.usage_in_bytes")):
                usage = read_int(memory, "memory.usage_in_bytes")
                peak = read_int(memory, "memory.max_usage_in_bytes")
                limit = read_int(memory, "memory.limit_in_bytes")
                oom = read_keyed(memory, "memory.oom_control").get("oom_kill", 0)
            else:
                usage = read_int(memory, "memory.current")
                peak = _files.read_optional_int(memory, "memory.peak")
                limit = read_int(memory, "memory.max")
                oom = read_keyed(memory, "memory.events").get("oom_kill", 0)
            if limit is not None and limit >= V1_UNLIMITED:
                limit = None
        cpu = None
        if self.cpuacct is not None:
            if os.path.exists(os.path.join(self.cpuacct, "cpuacct.usage")):
                cpu = read_int(self.cpuacct, "cpuacct.usage") / 1e9
            else:
                cpu = read_keyed(self.cpuacct, "cpu.stat").get("usage_usec", 0) / 1e6
        processes = process_limit = None
        if self.pids_dir is not None:
            processes = read_int(self.pids_dir, "pids.current")
            process_limit = read_int(self.pids_dir, "pids.max")
        return CgroupStats(usage, peak, limit, cpu, processes, process_limit, oom)

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to every process (they may exit meanwhile: not an error)."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue

    def kill_all(self, timeout: float) -> None:
        """Kill every process, also double-forked and setsid'd ones, and wait until none is left.

        ``cgroup.kill`` where the kernel has it (atomic, no race with forks);
        else v1: freeze, SIGKILL everything, thaw (a frozen task only dies
        once thawed), until empty.
        """
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            if time.monotonic() > deadline:
                raise IronframeError(f"processes survive kill in {self.dirs}: {pids}")
            if self.kill_dir is not None:
                write(self.kill_dir, "cgroup.kill", 1)
            elif self.freezer is not None:
                self._freeze_kill_thaw()
            else:
                self.signal_all(signal.SIGKILL)
            time.sleep(0.002)

    def _freeze_kill_thaw(self) -> None:
        assert self.freezer is not None
        write(self.freezer, "freezer.state", "FROZEN")
        try:
            self.signal_all(signal.SIGKILL)
        finally:
            write(self.freezer, "freezer.state", "THAWED")
