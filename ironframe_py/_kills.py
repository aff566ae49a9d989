"""Kill-event bookkeeping: what the guard and the kernel enforced, recorded once.

Two sources report enforcements: the guard thread (memory breaches,
escapees and the kernel's OOM kills as they happen) and the kernel's own
counter (read by ``info()`` and after a process exits).  :class:`KillLog`
writes both to the store and counts kernel OOM kills, so the two agree
without duplicates, then tells the service's ``on_event`` callback.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import spec as _spec
from ._store import EventRecord, Store

__all__ = ["KillEvent", "KillLog", "KERNEL_OOM", "GUARD_DETAILS"]

log = logging.getLogger("ironframe_py")

KERNEL_OOM = "the kernel OOM-killed a process; the guard stops the rest of the container"
GUARD_DETAILS = {
    "memory": "memory use crossed the limit; the guard killed the container",
    "escapee": "ran as the container user outside the container; the guard killed it",
}


@dataclasses.dataclass(frozen=True)
class KillEvent:
    """A limit or guard enforcement that killed something in the container.

    ``kind`` says what was enforced: ``"memory"`` (the guard saw usage over
    the limit and killed the container), ``"oom_kill"`` (the kernel killed a
    process at the memory limit; the guard then stops the rest) or
    ``"escapee"`` (a process of the container user outside the container).
    ``limit`` is the limit in force (bytes for memory), ``usage`` the highest
    usage seen, ``pid`` the process killed where known, ``detail`` a
    sentence for people.
    """

    __module__ = "ironframe_py"

    time: float
    kind: str
    limit: float | None
    usage: float | None
    pid: int | None
    detail: str

    def describe(self) -> str:
        """One human line, e.g. ``memory limit 64M exceeded (peak 64.0M)``."""
        if self.kind in ("memory", "oom_kill"):
            return (f"memory limit {_spec.format_size(_int(self.limit))} exceeded "
                    f"(peak {_spec.format_size(_int(self.usage))})")
        if self.kind == "escapee":
            return f"process {self.pid} ran as the container user outside the container: killed"
        value = "-" if self.limit is None else f"{self.limit:g}"
        return f"{self.kind} limit {value} enforced" + (f": {self.detail}" if self.detail else "")


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


class KillLog:
    """Records the kill events of every container of one service.

    :param store: where events are kept (``info()`` and the CLI read them back).
    :param on_event: called with ``(handle, KillEvent)`` for each new event;
        its exceptions are logged, never raised into the guard or ``info()``.
    """

    def __init__(self, store: Store, on_event: Callable[[str, KillEvent], None] | None) -> None:
        self.store = store
        self.on_event = on_event
        self._lock = threading.Lock()

    def events(self, handle: str) -> list[KillEvent]:
        """Every event of ``handle``, oldest first."""
        return [KillEvent(e.time, e.kind, e.limit, e.usage, e.pid, e.detail)
                for e in self.store.events(handle)]

    def sync_kernel_oom_kills(self, handle: str, total: int, limit: int | None,
                              peak: int | None) -> list[KillEvent]:
        """Bring the recorded kernel OOM kills of ``handle`` up to the kernel's ``total``."""
        added = []
        with self._lock:
            known = len(self.store.events(handle, kinds=("oom_kill",)))
            for _ in range(total - known):
                event = KillEvent(time.time(), "oom_kill", limit, peak, None, KERNEL_OOM)
                self._record(handle, event)
                added.append(event)
        self._notify(handle, added)
        return added

    def guard_event(self, event: Any) -> None:
        """Record a :class:`~ironframe_py.guard.GuardEvent` from the guard thread."""
        handle = event.key
        if event.kind == "oom_kill":
            self.sync_kernel_oom_kills(handle, event.count, event.limit, event.usage)
            return
        kill = KillEvent(event.time, event.kind, event.limit, event.usage, event.pid,
                         GUARD_DETAILS[event.kind])
        with self._lock:
            self._record(handle, kill)
        self._notify(handle, [kill])

    def _record(self, handle: str, event: KillEvent) -> None:
        self.store.add_event(EventRecord(handle, event.time, event.kind, event.limit,
                                         event.usage, event.pid, event.detail))
        log.debug("kill in %s: %s (pid %s)", handle, event.describe(), event.pid)

    def _notify(self, handle: str, events: Sequence[KillEvent]) -> None:
        if self.on_event is None:
            return
        for event in events:
            try:
                self.on_event(handle, event)
            except Exception:  # the caller's callback must not break the guard or info()
                log.exception("on_event callback failed for %s", handle)
