"""The guard: one thread that watches every container's memory and hunts escapees.

Python face of the C core in :mod:`ironframe_py._guard` (``guard_core.h``).
The thread calls ``ifg_cycle`` in a loop; cffi releases the GIL for the
whole call, which waits in the kernel (epoll) for OOM events or the poll
interval, then reads every container's memory with ``pread`` on fds opened
once, kills a container whose usage crossed its limit or whose processes
the kernel OOM-killed, and -- every ``escape_interval`` -- kills processes
that run as a container's uid outside its cgroups.  The C code kills by
itself (a breach must end within one interval); Python turns what it
reports into :class:`GuardEvent` objects for the callback.

Targets are described by file paths (:class:`LinuxGuardTarget`), so the
guard does not depend on the cgroup module; the Linux backend fills them in.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from .errors import IronframeError

__all__ = ["Guard", "GuardEvent", "LinuxGuardTarget", "load_core"]

log = logging.getLogger("ironframe_py.guard")

EXPECTED_ABI = 1
MAX_EVENTS = 256


def load_core():
    """The compiled core ``(ffi, lib)``; refuses a core built for another ABI version."""
    try:
        from ._guard._core import ffi, lib
    except ImportError as err:
        raise IronframeError(
            "the guard's C extension is not built: run `pip install -e .` (or "
            "`python ironframe_py/_guard/_guard_build.py`) in the source tree") from err
    if lib.ifg_abi_version() != EXPECTED_ABI:
        raise IronframeError(
            f"guard core ABI {lib.ifg_abi_version()} does not match ironframe_py's {EXPECTED_ABI}: "
            "rebuild the extension (`pip install -e .`)")
    return ffi, lib


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
    """

    uid: int
    procs_path: str
    memory_limit: int | None = None
    usage_path: str | None = None
    oom_path: str | None = None
    event_control_path: str | None = None
    kill_path: str | None = None
    freezer_path: str | None = None


@dataclasses.dataclass(frozen=True)
class GuardEvent:
    """Something the guard did: ``kind`` is ``"memory"`` (usage above the limit),
    ``"oom_kill"`` (the kernel OOM-killed a process; ``count`` is the container's
    total so far) or ``"escapee"``; the container (or the escapee) was killed."""

    key: str
    kind: str
    time: float
    limit: int | None
    usage: int | None
    pid: int | None = None
    count: int | None = None


class _Watched:
    """One target with its open fds and the C fields that persist across rebuilds."""

    def __init__(self, key: str, target: LinuxGuardTarget) -> None:
        self.key = key
        self.target = target
        self.fds: list[int] = []
        self.lock = threading.Lock()
        self.closed = False
        self.oom_kills = 0
        self.peak = 0
        self.usage = 0
        try:
            self.usage_fd = self._open(target.usage_path, os.O_RDONLY)
            self.oom_fd = self._open(target.oom_path, os.O_RDONLY)
            self.kill_fd = self._open(target.kill_path, os.O_WRONLY)
            self.freezer_fd = self._open(target.freezer_path, os.O_WRONLY)
            self.procs_fd = self._open(target.procs_path, os.O_RDONLY)
            self.event_fd, self.event_kind = self._event_source()
            self.threshold_fd = -1  # registered later, off the caller's path: see register_thresholds
            if target.oom_path:
                self.oom_kills = _oom_kills(target.oom_path)
        except BaseException:
            self.close()
            raise

    def _open(self, path: str | None, flags: int) -> int:
        if path is None:
            return -1
        fd = os.open(path, flags | os.O_CLOEXEC)
        self.fds.append(fd)
        return fd

    def _event_source(self) -> tuple[int, int]:
        target = self.target
        if target.oom_path and target.event_control_path:  # v1: eventfd on memory.oom_control
            efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            self.fds.append(efd)
            with open(target.event_control_path, "w") as control:
                control.write(f"{efd} {self.oom_fd}")
            return efd, 1
        if target.oom_path and target.oom_path.endswith("memory.events"):
            return self.oom_fd, 2  # v2: memory.events signals POLLPRI on change
        return -1, 0

    def register_thresholds(self) -> bool:
        """Register the usage thresholds (slow: the kernel waits for an RCU grace period
        per threshold, ~10 ms); True if this target now has them."""
        with self.lock:
            if self.closed or self.threshold_fd >= 0:
                return False
            self.threshold_fd = self._threshold_source()
        if self.closed:  # unwatched while we registered: closing was left to us
            self.close()
            return False
        return self.threshold_fd >= 0

    def _threshold_source(self) -> int:
        """v1: an eventfd the kernel signals when usage crosses a threshold, either way.

        Two thresholds: the limit itself (a guard-only limit below the kernel's
        is crossed upwards) and a little below it (a kernel-enforced limit is
        never exceeded, but usage approaches it and falls back after the OOM
        kill).  The v1 OOM eventfd stays silent while the kernel's OOM killer
        is enabled, so this is what makes OOM kills event-driven on v1.
        """
        target = self.target
        limit = target.memory_limit
        if not (target.event_control_path and limit is not None and self.usage_fd >= 0):
            return -1
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self.fds.append(efd)
        near = max(limit - max(1 << 20, limit // 64), limit // 2)
        for threshold in (limit, near):
            with open(target.event_control_path, "w") as control:
                control.write(f"{efd} {self.usage_fd} {threshold}")
        return efd

    def fill(self, cell, key_index: int) -> None:
        limit = self.target.memory_limit
        cell.key = key_index
        cell.memory_limit = -1 if limit is None else limit
        cell.usage_fd, cell.oom_fd, cell.kill_fd = self.usage_fd, self.oom_fd, self.kill_fd
        cell.freezer_fd, cell.procs_fd = self.freezer_fd, self.procs_fd
        cell.event_fd, cell.event_kind = self.event_fd, self.event_kind
        cell.threshold_fd = self.threshold_fd
        cell.uid, cell.armed = self.target.uid, 1
        cell.oom_kills, cell.usage, cell.peak = self.oom_kills, self.usage, self.peak

    def close(self) -> None:
        """Close the fds; while a registration runs, leave that to the registrar."""
        self.closed = True
        if not self.lock.acquire(blocking=False):
            return  # register_thresholds() closes them when the kernel returns
        try:
            for fd in self.fds:
                os.close(fd)
            self.fds = []
        finally:
            self.lock.release()


def _oom_kills(path: str) -> int:
    with open(path) as file:
        for line in file:
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    return 0


class Guard:
    """Watches containers from one background thread; see the module docstring.

    :param interval: seconds between sweeps (default 0.1, at least 0.001).
    :param on_event: called with each :class:`GuardEvent` from the guard
        thread; an exception it raises is logged, never kills the thread.
    :param escape_interval: seconds between escapee sweeps (a /proc scan);
        default ``max(interval, 0.25)``.
    """

    def __init__(self, interval: float = 0.1, on_event: Callable[[GuardEvent], None] | None = None,
                 escape_interval: float | None = None) -> None:
        if not 0.001 <= interval <= 60:
            raise ValueError("interval must be between 0.001 and 60 seconds")
        self.ffi, self.lib = load_core()
        self.interval = interval
        self.escape_interval = escape_interval if escape_interval is not None else max(interval, 0.25)
        self.on_event = on_event
        self._core = self.lib.ifg_new()
        if self._core == self.ffi.NULL:
            raise IronframeError("ifg_new failed: cannot create the guard's epoll/eventfd")
        self._watched: dict[str, _Watched] = {}
        self._retired: list[_Watched] = []
        self._lock = threading.Condition()
        self._generation = 0
        self._applied = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._events = self.ffi.new("struct ifg_event[]", MAX_EVENTS)
        self._cells: tuple = (None, [])
        self._registrations: queue.SimpleQueue[_Watched | None] = queue.SimpleQueue()
        self._registrar: threading.Thread | None = None
        self.sweeps = 0

    def __repr__(self) -> str:
        return (f"<Guard interval={self.interval}s watching {len(self._watched)} "
                f"{'running' if self.running else 'stopped'}>")

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Guard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- watching ----------------------------------------------------------------------------

    def watch(self, key: str, target: LinuxGuardTarget) -> None:
        """Start watching ``target`` under ``key`` (replacing any target of that key).

        Does not wait: the thread is woken and sweeps it in its next cycle.
        Its kernel usage thresholds are registered in the background (until
        then it is polled).
        """
        watched = _Watched(key, target)
        with self._lock:
            old = self._watched.pop(key, None)
            self._watched[key] = watched
            if old is not None:
                self._retired.append(old)
            self._generation += 1
        self._sync()
        self._registrations.put(watched)

    def unwatch(self, key: str) -> None:
        """Stop watching ``key``; its fds are closed as soon as the C loop lets go of them."""
        with self._lock:
            old = self._watched.pop(key, None)
            if old is None:
                return
            self._retired.append(old)
            self._generation += 1
        self._sync()

    def update_limit(self, key: str, memory_limit: int | None) -> None:
        """Change the memory limit enforced for ``key`` (re-registers its kernel threshold)."""
        with self._lock:
            old = self._watched.get(key)
            if old is None:
                return
            new = _Watched(key, dataclasses.replace(old.target, memory_limit=memory_limit))
            new.oom_kills, new.peak = old.oom_kills, old.peak
            self._watched[key] = new
            self._retired.append(old)
            self._generation += 1
        self._sync()
        self._registrations.put(new)

    def usage(self, key: str) -> tuple[int, int]:
        """``(last usage, highest usage)`` the guard read for ``key``."""
        with self._lock:
            watched = self._watched[key]
            cells, order = self._cells
            if watched in order:  # the C loop's copy is the live one
                cell = cells[order.index(watched)]
                return cell.usage, cell.peak
            return watched.usage, watched.peak

    def _sync(self) -> None:
        """Have the thread take the new targets at once (it closes the retired fds once
        the C loop no longer uses them); without a thread, close them here."""
        with self._lock:
            if self.running and not self._stopping:
                self.lib.ifg_wake(self._core)
                return
            retired, self._retired = self._retired, []
        for watched in retired:
            watched.close()

    def wait_applied(self, timeout: float = 10.0) -> None:
        """Block until the thread sweeps the targets as they are now (tests, benchmarks)."""
        with self._lock:
            wanted = self._generation
            self._lock.wait_for(lambda: self._applied >= wanted or not self.running, timeout)

    def settle(self, timeout: float = 30.0) -> None:
        """Block until every target's kernel thresholds are registered and in use."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._registrations.empty():
            time.sleep(0.01)
        time.sleep(0.05)  # the registration taken off the queue last may still be running
        self.wait_applied(max(deadline - time.monotonic(), 0.1))

    # --- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the guard thread (idempotent)."""
        with self._lock:
            if self.running:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="ironframe-guard", daemon=True)
            self._thread.start()
            self._registrar = threading.Thread(target=self._register_loop,
                                               name="ironframe-guard-register", daemon=True)
            self._registrar.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close every fd; nothing of the guard is left running."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        if thread is not None:
            self.lib.ifg_wake(self._core)
            self._registrations.put(None)
            for worker in (thread, self._registrar):
                if worker is not None:
                    worker.join(timeout)
                    if worker.is_alive():
                        raise IronframeError(f"{worker.name} did not stop within {timeout} s")
        with self._lock:
            for watched in list(self._watched.values()) + self._retired:
                watched.close()
            self._watched.clear()
            self._retired = []
            self._thread = self._registrar = None
            if self._core is not None:
                self.lib.ifg_free(self._core)
                self._core = None

    def _register_loop(self) -> None:
        """Registers kernel thresholds for new targets, then has the loop pick them up."""
        while True:
            watched = self._registrations.get()
            if watched is None or self._stopping:
                return
            try:
                registered = watched.register_thresholds()
            except OSError as err:  # the cgroup went away meanwhile, or no threshold support
                log.debug("guard: no usage threshold for %s: %s", watched.key, err)
                continue
            if registered:
                with self._lock:
                    self._generation += 1
                self.lib.ifg_wake(self._core)

    def _run(self) -> None:
        cells, order = self._apply()
        last_escape_sweep = 0.0
        timeout_ms = max(1, round(self.interval * 1000))
        failures = 0
        while not self._stopping:
            if self._applied != self._generation:
                cells, order = self._apply()
            now = time.monotonic()
            escapees = now - last_escape_sweep >= self.escape_interval
            if escapees:
                last_escape_sweep = now
            count = self.lib.ifg_cycle(self._core, cells, len(order), timeout_ms, escapees,
                                       self._events, MAX_EVENTS)
            if count < 0:
                failures += 1
                log.error("guard cycle failed: %s", os.strerror(-count))
                time.sleep(min(self.interval * failures, 1.0))  # never spin on a repeated error
                continue
            failures = 0
            self.sweeps += 1
            if count:
                self._collect(cells, order, count)

    def _apply(self):
        with self._lock:
            old_cells, old_order = self._cells
            for index, watched in enumerate(old_order):  # keep counters across the rebuild
                cell = old_cells[index]
                watched.oom_kills, watched.usage, watched.peak = cell.oom_kills, cell.usage, cell.peak
            order = list(self._watched.values())
            cells = self.ffi.new("struct ifg_target[]", max(len(order), 1))
            for index, watched in enumerate(order):
                watched.fill(cells[index], index)
            result = self.lib.ifg_set_targets(self._core, cells, len(order))
            if result < 0:
                log.error("guard could not wait on targets: %s", os.strerror(-result))
            self._applied = self._generation
            self._cells = (cells, order)
            retired, self._retired = self._retired, []
            self._lock.notify_all()
        for watched in retired:  # the C loop now runs on `cells`: nothing uses these any more
            watched.close()
        return cells, order

    def _collect(self, cells, order: list[_Watched], count: int) -> None:
        now = time.time()
        for i in range(count):
            raw = self._events[i]
            watched = order[raw.key]
            watched.peak = cells[raw.key].peak
            event = _event(watched, raw, now, self.lib)
            if event is not None:
                self._deliver(event)

    def _deliver(self, event: GuardEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a callback bug must not stop the guard
            log.exception("guard callback failed for %s", event)


def _event(watched: _Watched, raw, now: float, lib) -> GuardEvent | None:
    limit = watched.target.memory_limit
    if raw.kind == lib.IFG_EVENT_MEMORY:
        return GuardEvent(watched.key, "memory", now, raw.limit, raw.value)
    if raw.kind == lib.IFG_EVENT_OOM_KILL:
        return GuardEvent(watched.key, "oom_kill", now, limit, watched.peak or None, count=raw.value)
    if raw.kind == lib.IFG_EVENT_ESCAPEE:
        return GuardEvent(watched.key, "escapee", now, None, None, pid=raw.pid)
    log.debug("guard: %s unreadable (%s); it is probably being destroyed", watched.key,
              os.strerror(raw.value))
    return None
