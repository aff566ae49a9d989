"""The guard target of a Linux container: the cgroup files the guard reads and writes."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..base import ContainerContext

__all__ = ["LinuxGuardTarget", "target_for"]


@dataclasses.dataclass(frozen=True)
class LinuxGuardTarget:
    """What the guard watches for one container, as cgroup file paths.

    :param uid: the container's uid; processes of it outside ``procs_path``'s
        cgroup are escapees.
    :param memory_limit: bytes; usage above it is a breach (``None``: only
        kernel OOM kills count).
    :param usage_path: ``memory.usage_in_bytes`` (v1) or ``memory.current`` (v2).
    :param oom_path: ``memory.oom_control`` (v1) or ``memory.events`` (v2).
    :param event_control_path: v1 ``cgroup.event_control``: eventfds are
        registered there on ``oom_path`` and on ``usage_path`` at
        ``memory_limit``, so OOM kills and a crossed limit wake the guard at
        once and idle containers cost nothing between fallback polls.
    :param kill_path: cgroup2 ``cgroup.kill``, if any.
    :param freezer_path: v1 ``freezer.state``, used to kill without ``cgroup.kill``.
    :param procs_path: ``cgroup.procs`` of one hierarchy (membership, v1 kill).
    :param pids_path: ``pids.current`` of the same hierarchy: when the guard
        follows process events, a container whose cgroup holds as many tasks
        as run as its uid is known to have no escapee without a scan.
    """

    uid: int
    procs_path: str
    pids_path: str | None = None
    memory_limit: int | None = None
    usage_path: str | None = None
    oom_path: str | None = None
    event_control_path: str | None = None
    kill_path: str | None = None
    freezer_path: str | None = None


def target_for(ctx: ContainerContext, view: Any) -> LinuxGuardTarget:
    """The cgroup files the guard needs for one container (v1, hybrid or v2);
    ``view`` is a ``LinuxContainerView``."""
    cgroups = view.cgroups

    def existing(directory: str | None, *names: str) -> str | None:
        for name in names:
            if directory is not None and os.path.exists(os.path.join(directory, name)):
                return os.path.join(directory, name)
        return None

    memory = cgroups.memory
    # Membership is judged in the pids hierarchy when there is one: its task count
    # lets the guard skip containers with no task outside.
    membership = cgroups.pids_dir or cgroups.kill_dir or cgroups.dirs[0]
    v1 = existing(memory, "memory.oom_control") is not None
    return LinuxGuardTarget(
        uid=ctx.uid,
        memory_limit=ctx.limits.memory,
        usage_path=existing(memory, "memory.usage_in_bytes", "memory.current"),
        oom_path=existing(memory, "memory.oom_control", "memory.events"),
        event_control_path=existing(memory, "cgroup.event_control") if v1 else None,
        kill_path=existing(cgroups.kill_dir, "cgroup.kill"),
        freezer_path=existing(cgroups.freezer, "freezer.state"),
        procs_path=os.path.join(membership, "cgroup.procs"),
        pids_path=existing(cgroups.pids_dir, "pids.current"),
    )
