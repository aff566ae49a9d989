"""The guard target of a Linux container: the cgroup files the guard reads and writes."""

from __future__ import annotations

import dataclasses
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
