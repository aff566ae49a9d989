"""The guard target of a Linux container: the cgroup files the guard reads and writes."""

from __future__ import annotations

from ...guard import LinuxGuardTarget
from ..base import ContainerContext


def target_for(ctx: ContainerContext, view) -> LinuxGuardTarget:
    """The cgroup files the guard needs for one container (v1, hybrid or v2)."""
    files = view.cgroups.watch_files()
    return LinuxGuardTarget(
        uid=ctx.uid,
        memory_limit=ctx.limits.memory,
        usage_path=files.memory_usage,
        oom_path=files.oom_events,
        event_control_path=files.event_control,
        kill_path=files.kill,
        freezer_path=files.freezer_state,
        procs_path=files.procs,
        pids_path=files.pids_current,
    )
