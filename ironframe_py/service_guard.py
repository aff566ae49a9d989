"""The guard as a service sees it: one :class:`~ironframe_py.guard.Guard` thread,
fed containers that the backend turns into guard targets."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .backends.base import BackendContainer, ContainerContext
from .guard import Guard, GuardEvent

TargetFor = Callable[[ContainerContext, Any], Any]

log = logging.getLogger("ironframe_py.guard")


class ServiceGuard:
    """The service's guard thread, for every OS.

    :param interval: seconds between the guard's sweeps.
    :param on_event: receives each :class:`~ironframe_py.guard.GuardEvent`.
    :param target_for: the backend's ``(ctx, view) -> target`` translation
        (:meth:`~ironframe_py.backends.base.Backend.guard_target`: cgroup files
        on Linux, the job handle and user SID on Windows).
    """

    def __init__(self, interval: float, on_event: Callable[[GuardEvent], None],
                 target_for: TargetFor) -> None:
        self.target_for = target_for
        self.interval = interval
        self.on_event = on_event
        self._watched: dict[str, tuple[ContainerContext, BackendContainer]] = {}
        self._lock = threading.Lock()
        self.guard = Guard(interval, on_event=on_event)
        self.guard.start()

    @property
    def status(self) -> str:
        """``"running"``, or ``"down"`` when the thread died or was stopped."""
        return "running" if self.guard.running else "down"

    def restart(self) -> None:
        """Replace a dead or stopped guard thread by a new one watching every container."""
        with self._lock:
            old = self.guard
            try:
                old.stop()
            except Exception as err:  # a dead thread's resources: the new guard does not need them
                log.warning("stopping the old guard: %s", err)
            self.guard = Guard(self.interval, on_event=self.on_event)
            self.guard.start()
            for ctx, view in self._watched.values():
                self.guard.watch(ctx.handle, self.target_for(ctx, view))
        log.warning("guard restarted, watching %d containers", len(self._watched))

    def __repr__(self) -> str:
        return f"<ServiceGuard {self.guard!r}>"

    def watch(self, ctx: ContainerContext, view: BackendContainer) -> None:
        """Watch a container's memory and its user's processes outside it."""
        with self._lock:
            self._watched[ctx.handle] = (ctx, view)
            self.guard.watch(ctx.handle, self.target_for(ctx, view))

    def update(self, ctx: ContainerContext, view: BackendContainer) -> None:
        """The container's memory limit changed."""
        with self._lock:
            self._watched[ctx.handle] = (ctx, view)
            self.guard.update_limit(ctx.handle, ctx.limits.memory)

    def unwatch(self, handle: str) -> None:
        """Stop watching (before destroy); idempotent."""
        with self._lock:
            self._watched.pop(handle, None)
            self.guard.unwatch(handle)

    def stop(self) -> None:
        """Stop the thread; nothing of the guard is left running."""
        self.guard.stop()
