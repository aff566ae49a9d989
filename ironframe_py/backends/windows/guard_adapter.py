"""The guard for Windows containers: a polling thread over each container's job.

Every ``interval`` it sums the commit (PagefileUsage) of the job's
processes and terminates the whole job when the sum exceeds the memory
limit -- the enforcement Wine lacks, and a backstop for job memory limits on
Windows -- and terminates processes running as the container user outside
the job (escapees).  It reports :class:`~ironframe_py.guard.GuardEvent`
objects.  This is the Python fallback; the mingw-built C guard core for
Windows (DESIGN.md) is not written yet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ...guard import GuardEvent
from ..base import ContainerContext
from .backend import EXIT_KILLED, kill_escapees, memory_of

log = logging.getLogger("ironframe_py.guard")
ESCAPE_EVERY = 4  # escapee sweeps (a full process scan) once every this many polls


class WindowsGuardAdapter:
    """The service's handle on the Windows guard thread."""

    def __init__(self, interval: float, on_event: Callable[[GuardEvent], None], *,
                 backend: Any) -> None:
        self.interval = interval
        self.on_event = on_event
        self.backend = backend
        self._watched: dict[str, tuple[ContainerContext, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ironframe-guard", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<WindowsGuardAdapter watching {len(self._watched)}>"

    def watch(self, ctx: ContainerContext, view) -> None:
        """Watch a container's memory and user."""
        with self._lock:
            self._watched[ctx.handle] = (ctx, view)

    def update(self, ctx: ContainerContext, view) -> None:
        """The container's limits changed."""
        self.watch(ctx, view)

    def unwatch(self, handle: str) -> None:
        """Stop watching; idempotent."""
        with self._lock:
            self._watched.pop(handle, None)

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        polls = 0
        while not self._stop.wait(self.interval):
            polls += 1
            with self._lock:
                targets = list(self._watched.values())
            for ctx, view in targets:
                try:
                    self.check(ctx, view, escapees=polls % ESCAPE_EVERY == 0)
                except Exception as err:  # one broken container must not stop the guard
                    log.warning("guard: %s: %s", ctx.handle, err)
                    self._stop.wait(self.interval)  # back off rather than spin on the error

    def check(self, ctx: ContainerContext, view, *, escapees: bool = True) -> list[GuardEvent]:
        """One pass over one container; returns (and reports) what it killed."""
        events = []
        pids = view.pids()
        limit = ctx.limits.memory
        if limit is not None and pids:
            usage = memory_of(pids, view._api)
            if usage > limit:
                view.job.terminate(EXIT_KILLED)
                events.append(GuardEvent(ctx.handle, "memory", time.time(), limit, usage))
        if escapees:
            for pid in kill_escapees(view.user_name, set(pids), view._api):
                events.append(GuardEvent(ctx.handle, "escapee", time.time(), None, None, pid=pid))
        for event in events:
            self.on_event(event)
        return events
