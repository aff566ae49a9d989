"""Which cgroup hierarchies this host mounts, where this process sits in each, and
which version the host runs: read once, when a :class:`~.CgroupLayout` is made."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..mountinfo import MOUNTINFO
from ..mountinfo import read as read_mounts
from ._files import read_words
from ._model import Hierarchy

PROC_CGROUP = "/proc/self/cgroup"
_ALL_V1 = frozenset({"memory", "cpu", "cpuacct", "pids", "freezer", "cpuset", "devices", "blkio",
                     "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"})


def discover(mountinfo: str = MOUNTINFO, proc_cgroup: str = PROC_CGROUP) -> list[Hierarchy]:
    """Every cgroup hierarchy mounted here that has controllers (or is v2), with this
    process's place in it."""
    memberships: dict[frozenset[str] | str, str] = {}
    with open(proc_cgroup) as file:
        for line in file:
            hier_id, names, path = line.rstrip("\n").split(":", 2)
            memberships["unified" if hier_id == "0" else frozenset(names.split(","))] = path
    found: dict[frozenset[str] | str, Hierarchy] = {}
    for mount in read_mounts(mountinfo):
        key: frozenset[str] | str
        if mount.fstype == "cgroup2":
            controllers = frozenset(read_words(mount.mount_point, "cgroup.controllers"))
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


def _relative(path: str, mount_root: str) -> str:
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root):] or "/"
    return path


def host_version(hierarchies: Iterable[Hierarchy]) -> int:
    """1 if a v1 hierarchy carries memory or pids (v1 and hybrid hosts), else 2."""
    v1 = {c for h in hierarchies if h.version == 1 for c in h.controllers}
    return 1 if "memory" in v1 or "pids" in v1 else 2


def cgroup_kill_available(release: str | None = None) -> bool:
    """``cgroup.kill`` exists from kernel 5.14 on."""
    numbers = (release or os.uname().release).split("-")[0].split(".")
    try:
        return (int(numbers[0]), int(numbers[1])) >= (5, 14)
    except (IndexError, ValueError):
        return False
