"""The guard: one thread that watches every container's memory and hunts escapees.

Python face of the C core in :mod:`ironframe_py._guard` (``guard_core.h``).
The thread calls ``ifg_cycle`` in a loop; cffi releases the GIL for the
whole call, which waits in the kernel (epoll) for OOM events or the poll
interval, then reads every container's memory with ``pread`` on fds opened
once, kills a container whose usage crossed its limit or whose processes
the kernel OOM-killed, and -- every ``escape_interval`` -- kills processes
of a container's user outside its cgroups (found from the kernel's
process events where it can subscribe to them, as root; otherwise by
scanning /proc).  The C code kills by itself (a breach must end within one
interval); Python turns what it reports into :class:`GuardEvent` objects
for the callback.

What is OS-specific lives behind one seam, as psutil's ``_psplatform``: the
platform module (``backends/linux/guard_watch.py`` or
``backends/windows/guard_watch.py``) holds a watched target open and fills
the OS's C target struct.  On Linux a target is cgroup file paths
(:class:`~ironframe_py.backends.linux.guard_target.LinuxGuardTarget`), so
the guard does not depend on the cgroup module; the Linux backend fills them
in.  On Windows a target is a job handle and the container user's SID
(:class:`~ironframe_py.backends.windows.guard_target.WindowsGuardTarget`):
the core attaches the job to its completion port (``JOB_OBJECT_MSG_*``),
sums the commit of the job's processes, and terminates the job on a breach.
The core there is the compiled extension (``pip install`` with MSVC) or,
failing that, ``ifguard.dll`` cross-built by ``make -C ironframe_py/_guard
windows`` and opened through cffi ABI mode -- the same call interface.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .backends.base import GuardWatch
from .errors import GuardError

if sys.platform == "win32":
    from .backends.windows import guard_watch as _platform
else:
    from .backends.linux import guard_watch as _platform

__all__ = ["Guard", "GuardEvent", "load_core", "EXPECTED_ABI"]

log = logging.getLogger("ironframe_py.guard")

EXPECTED_ABI = 4
MAX_EVENTS = 256
DLL_NAME = "ifguard.dll"

_loaded: tuple[Any, Any] | None = None
_load_lock = threading.Lock()


def load_core(platform: str = sys.platform) -> tuple[Any, Any]:
    """The guard core ``(ffi, lib)``, loaded once; refuses a core built for another ABI.

    The compiled extension ``ironframe_py._guard._core`` if present; on
    Windows otherwise ``ifguard.dll`` (mingw build) through cffi ABI mode.
    """
    global _loaded
    with _load_lock:
        if _loaded is None:
            _loaded = _import_core(platform)
    ffi, lib = _loaded
    if lib.ifg_abi_version() != EXPECTED_ABI:
        how = ("`make -C ironframe_py/_guard windows` or `pip install -e .`" if platform == "win32"
               else "`pip install -e .` (or `python ironframe_py/_guard/_guard_build.py`)")
        raise GuardError(
            f"guard core ABI {lib.ifg_abi_version()} does not match ironframe_py's {EXPECTED_ABI}: "
            f"rebuild the guard core with {how}")
    return ffi, lib


def _import_core(platform: str) -> tuple[Any, Any]:
    try:
        from ._guard._core import ffi, lib  # type: ignore[import-not-found]  # built by pip
        return ffi, lib
    except ImportError as err:
        if platform != "win32":
            raise GuardError(
                "the guard's C extension is not built: run `pip install -e .` (or "
                "`python ironframe_py/_guard/_guard_build.py`) in the source tree") from err
    from cffi import FFI  # type: ignore[import-untyped]

    from ._guard import GUARD_DIR, cdef_text

    path = os.path.join(GUARD_DIR, DLL_NAME)
    if not os.path.exists(path):
        raise GuardError(
            f"no guard core: neither the compiled extension nor {path}; build one with "
            "`make -C ironframe_py/_guard windows` (mingw-w64) or `pip install -e .` (MSVC)")
    ffi = FFI()
    ffi.cdef(cdef_text())
    return ffi, ffi.dlopen(path)


@dataclasses.dataclass(frozen=True)
class GuardEvent:
    """Something the guard did: ``kind`` is ``"memory"`` (usage above the limit,
    or on Windows a job memory-limit message), ``"oom_kill"`` (the kernel
    OOM-killed a process; ``count`` is the container's total so far) or
    ``"escapee"``; the container (or the escapee) was killed.  ``detail`` says
    how the breach was seen (e.g. ``"usage"``, ``"JOB_MEMORY_LIMIT message"``)."""

    key: str
    kind: str
    time: float
    limit: int | None
    usage: int | None
    pid: int | None = None
    count: int | None = None
    detail: str | None = None


class Guard:
    """Watches containers from one background thread; see the module docstring.

    :param interval: seconds between sweeps (default 0.1, at least 0.001).
    :param on_event: called with each :class:`GuardEvent` from the guard
        thread; an exception it raises is logged, never kills the thread.
    :param escape_interval: seconds between escapee sweeps (one /proc scan on
        Linux, one process snapshot on Windows, for all containers); default
        ``max(interval, 0.25)``.

    Targets are this OS's: a
    :class:`~ironframe_py.backends.linux.guard_target.LinuxGuardTarget` or a
    :class:`~ironframe_py.backends.windows.guard_target.WindowsGuardTarget`.
    Use it as a context manager, or ``start()`` / ``stop()``.
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
            raise GuardError("ifg_new failed: cannot create the guard's epoll/eventfd")
        self._watched: dict[str, GuardWatch] = {}
        self._retired: list[GuardWatch] = []
        self._lock = threading.Condition()
        self._generation = 0
        self._applied = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._events = self.ffi.new("struct ifg_event[]", MAX_EVENTS)
        self._cells: tuple = (None, [])
        self._registrations: queue.SimpleQueue[GuardWatch | None] = queue.SimpleQueue()
        self._unregistered = 0  # queued or being registered (under _lock)
        self._stop_waiting = threading.Event()  # cuts the registrar's wait for register_at short
        self._registrar: threading.Thread | None = None
        self.sweeps = 0
        #: the exception that ended the thread, if one did
        self.failure: BaseException | None = None

    def __repr__(self) -> str:
        return (f"<Guard interval={self.interval}s watching {len(self._watched)} "
                f"{'running' if self.running else 'stopped'}>")

    @property
    def proc_events(self) -> bool:
        """True if escapees are found from the kernel's process events (Linux, as root)
        rather than by scanning every process each ``escape_interval``."""
        return bool(self._core is not None and
                    self.lib.ifg_features(self._core) & self.lib.IFG_FEATURE_PROC_EVENTS)

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

    def watch(self, key: str, target: Any) -> None:
        """Start watching ``target`` under ``key`` (replacing any target of that key).

        Does not wait: the thread is woken and sweeps it in its next cycle.
        Its kernel usage thresholds are registered in the background (until
        then it is polled).
        """
        watched: GuardWatch = _platform.watched_for(key, target)
        with self._lock:
            old = self._watched.pop(key, None)
            self._watched[key] = watched
            if old is not None:
                if type(old) is type(watched):
                    watched.carry(old)
                self._retired.append(old)
            self._generation += 1
            self._unregistered += 1
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
            target = dataclasses.replace(old.target, memory_limit=memory_limit)
            new: GuardWatch = _platform.watched_for(key, target)
            new.carry(old)
            self._watched[key] = new
            self._retired.append(old)
            self._generation += 1
            self._unregistered += 1
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
        """Block until every target's kernel thresholds are registered and in use
        (targets are polled until then; on Linux registration starts
        ``REGISTER_AFTER`` s after ``watch``: see ``backends/linux/guard_watch.py``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._lock.wait_for(lambda: self._unregistered == 0 or not self.running, timeout)
        self.wait_applied(max(deadline - time.monotonic(), 0.1))

    # --- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the guard thread (idempotent)."""
        with self._lock:
            if self.running:
                return
            self._stopping = False
            self._stop_waiting.clear()
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
            self._stop_waiting.set()
            self._registrations.put(None)
            for worker in (thread, self._registrar):
                if worker is not None:
                    worker.join(timeout)
                    if worker.is_alive():
                        raise GuardError(f"{worker.name} did not stop within {timeout} s")
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
        """Registers kernel thresholds for targets once their ``register_at`` has come
        (in watch order), then has the loop pick them up."""
        while True:
            watched = self._registrations.get()
            if watched is None or self._stopping:
                return
            try:
                wait = watched.register_at - time.monotonic()
                if wait > 0 and self._stop_waiting.wait(wait):
                    return
                registered = watched.register_thresholds()
            except OSError as err:  # the cgroup went away meanwhile, or no threshold support
                log.debug("guard: no usage threshold for %s: %s", watched.key, err)
                registered = False
            with self._lock:
                self._unregistered -= 1
                if registered:
                    self._generation += 1
                self._lock.notify_all()
            if registered:
                self.lib.ifg_wake(self._core)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as err:  # the thread ends; the service reports the guard as down
            self.failure = err
            log.critical("guard thread died (%r): kernel limits still hold, but breaches of "
                         "guard-only limits and escapees go unseen until it is restarted", err)

    def _loop(self) -> None:
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
                log.error("guard cycle failed: %s", _platform.strerror(-count))
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
                watched.save(old_cells[index])
            order = list(self._watched.values())
            cells = self.ffi.new("ifg_target[]", max(len(order), 1))
            for index, watched in enumerate(order):
                watched.fill(cells[index], index)
            result = self.lib.ifg_set_targets(self._core, cells, len(order))
            for index, watched in enumerate(order):  # what set_targets did to the jobs (Windows)
                watched.save(cells[index])
            if result < 0:
                log.error("guard could not wait on targets: %s", _platform.strerror(-result))
            self._cells = (cells, order)
            for watched in self._retired:  # the C loop now runs on `cells`: nothing uses these
                watched.close()
            self._retired = []
            self._applied = self._generation  # wait_applied() callers see the fds closed
            self._lock.notify_all()
        return cells, order

    def _collect(self, cells, order: list[GuardWatch], count: int) -> None:
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


def _event(watched: GuardWatch, raw, now: float, lib) -> GuardEvent | None:
    limit = watched.target.memory_limit
    if raw.kind == lib.IFG_EVENT_MEMORY:
        return GuardEvent(watched.key, "memory", now, raw.limit, raw.value, detail="usage")
    if raw.kind == lib.IFG_EVENT_JOB_LIMIT:
        message = _platform.EVENT_DETAILS.get(raw.detail, str(raw.detail))
        return GuardEvent(watched.key, "memory", now, limit, raw.value, pid=raw.pid or None,
                          detail=f"{message} message")
    if raw.kind == lib.IFG_EVENT_OOM_KILL:
        return GuardEvent(watched.key, "oom_kill", now, limit, watched.peak or None, count=raw.value,
                          detail="kernel OOM kill")
    if raw.kind == lib.IFG_EVENT_ESCAPEE:
        return GuardEvent(watched.key, "escapee", now, None, None, pid=raw.pid,
                          detail="ran as the container user outside it")
    if raw.pid:
        log.warning("guard: escapee %d of %s could not be killed: %s", raw.pid, watched.key,
                    _platform.strerror(raw.value))
        return None
    log.debug("guard: %s unreadable (%s); it is probably being destroyed", watched.key,
              _platform.strerror(raw.value))
    return None
