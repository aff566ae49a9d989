"""The guard for Linux containers: turns a container's cgroups into a guard target."""

from __future__ import annotations

import os
from collections.abc import Callable

from ...guard import Guard, GuardEvent, LinuxGuardTarget
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
    v1 = existing(memory, "memory.oom_control") is not None
    return LinuxGuardTarget(
        uid=ctx.uid,
        memory_limit=ctx.limits.memory,
        usage_path=existing(memory, "memory.usage_in_bytes", "memory.current"),
        oom_path=existing(memory, "memory.oom_control", "memory.events"),
        event_control_path=existing(memory, "cgroup.event_control") if v1 else None,
        kill_path=existing(cgroups.kill_dir, "cgroup.kill"),
        freezer_path=existing(cgroups.freezer, "freezer.state"),
        procs_path=os.path.join(cgroups.kill_dir or cgroups.dirs[0], "cgroup.procs"),
    )


class LinuxGuardAdapter:
    """The service's handle on one :class:`~ironframe_py.guard.Guard` thread."""

    def __init__(self, interval: float, on_event: Callable[[GuardEvent], None]) -> None:
        self.guard = Guard(interval, on_event=on_event)
        self.guard.start()

    def __repr__(self) -> str:
        return f"<LinuxGuardAdapter {self.guard!r}>"

    def watch(self, ctx: ContainerContext, view) -> None:
        """Watch a container's memory and uid."""
        self.guard.watch(ctx.handle, target_for(ctx, view))

    def update(self, ctx: ContainerContext, view) -> None:
        """The container's memory limit changed."""
        self.guard.update_limit(ctx.handle, ctx.limits.memory)

    def unwatch(self, handle: str) -> None:
        """Stop watching (before destroy)."""
        self.guard.unwatch(handle)

    def stop(self) -> None:
        """Stop the thread."""
        self.guard.stop()
