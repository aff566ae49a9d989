"""Linux cgroups, v1 and v2, behind one interface (tier 2).

* :func:`discover` reads ``/proc/self/mountinfo`` and ``/proc/self/cgroup``.
* :class:`CgroupLayout` knows a service's parent directories in each
  hierarchy used, names a container's directories, makes them
  (:meth:`~CgroupLayout.create_dir`, one recorded resource each) and opens
  them again (:meth:`~CgroupLayout.open`); :func:`remove_dir` removes one.
  It chooses the host's version once: the driver :mod:`.v1` (v1 and hybrid
  hosts, with the cgroup2 companion directory) or :mod:`.v2`, two modules
  with the same functions, as runc's ``fs`` and ``fs2``.
* :class:`CgroupSet` is the runtime view of one container's directories:
  join, limits, usage, kill, the files the guard watches.
"""

from __future__ import annotations

from ._discover import discover
from ._files import read_oom_kills
from ._layout import CONTAINER_PREFIX, CgroupLayout, container_dir_name, remove_dir
from ._model import (
    CPU_PERIOD_US,
    CgroupStats,
    Dirs,
    Driver,
    Hierarchy,
    WatchFiles,
    quota_from_cpu_max,
    shares_from_weight,
)
from ._set import CgroupSet

__all__ = ["CONTAINER_PREFIX", "container_dir_name", "Hierarchy", "discover", "CgroupLayout",
           "CgroupSet", "CgroupStats", "Dirs", "Driver", "WatchFiles", "remove_dir", "read_oom_kills",
           "shares_from_weight", "quota_from_cpu_max", "CPU_PERIOD_US"]
