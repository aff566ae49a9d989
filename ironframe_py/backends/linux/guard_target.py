"""The guard target of a Linux container: the cgroup files the guard reads and writes."""

from __future__ import annotations

import os

from ...guard import LinuxGuardTarget
from ..base import ContainerContext


def target_for(ctx: ContainerContext, view) -> LinuxGuardTarget:
    """The cgroup files the guard needs for one container (v1, hybrid or v2)."""
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

