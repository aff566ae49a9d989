"""The guard: one thread that watches every container's memory and hunts escapees.

Python face of the C core in :mod:`ironframe_py._guard` (``guard_core.h``).
The thread calls ``ifg_cycle`` in a loop; cffi releases the GIL for the
whole call, which waits in the kernel (epoll) for OOM events or the poll
interval, then reads every container's memory with ``pread`` on fds opened
once, kills a container whose usage crossed its limit or whose processes
the kernel OOM-killed, and -- every ``escape_interval`` -- kills processes
that run as a container's uid outside its cgroups (found from the kernel's
process events where it can subscribe to them, as root; otherwise by
scanning /proc).  The C code kills by itself (a breach must end within one
interval); Python turns what it reports into :class:`GuardEvent` objects
for the callback.

Targets are described by file paths (:class:`LinuxGuardTarget`), so the
guard does not depend on the cgroup module; the Linux backend fills them in.

On Windows a target is a job handle and the container user's SID
(:class:`WindowsGuardTarget`): the core attaches the job to its completion
port (``JOB_OBJECT_MSG_*``), sums the commit of the job's processes, and
terminates the job on a breach.  The core there is the compiled extension
(``pip install`` with MSVC) or, failing that, ``ifguard.dll`` cross-built by
``make -C ironframe_py/_guard windows`` and opened through cffi ABI mode --
the same call interface.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable

from .errors import IronframeError

__all__ = ["Guard", "GuardEvent", "LinuxGuardTarget", "WindowsGuardTarget", "load_core"]

log = logging.getLogger("ironframe_py.guard")

EXPECTED_ABI = 3
MAX_EVENTS = 256
# Kernel usage thresholds are registered only for containers watched this long:
# a registration takes an RCU grace period (~10 ms per threshold), and a cgroup
# removed meanwhile waits for it, so short-lived containers (polled until then)
# would pay it in destroy().
REGISTER_AFTER = 0.2
DLL_NAME = "ifguard.dll"
# JOB_OBJECT_MSG_* codes (winnt.h) a job-limit event can carry in its detail.
JOB_MESSAGES = {9: "PROCESS_MEMORY_LIMIT", 10: "JOB_MEMORY_LIMIT", 11: "NOTIFICATION_LIMIT"}

_loaded: tuple | None = None
_load_lock = threading.Lock()


def load_core(platform: str = sys.platform):
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
        raise IronframeError(
            f"guard core ABI {lib.ifg_abi_version()} does not match ironframe_py's {EXPECTED_ABI}: "
            f"rebuild the guard core with {how}")
    return ffi, lib


def _import_core(platform: str):
    try:
        from ._guard._core import ffi, lib
        return ffi, lib
    except ImportError as err:
        if platform != "win32":
            raise IronframeError(
                "the guard's C extension is not built: run `pip install -e .` (or "
                "`python ironframe_py/_guard/_guard_build.py`) in the source tree") from err
    from cffi import FFI

    from ._guard import GUARD_DIR, cdef_text

    path = os.path.join(GUARD_DIR, DLL_NAME)
    if not os.path.exists(path):
        raise IronframeError(
            f"no guard core: neither the compiled extension nor {path}; build one with "
            "`make -C ironframe_py/_guard windows` (mingw-w64) or `pip install -e .` (MSVC)")
    ffi = FFI()
    ffi.cdef(cdef_text())
    return ffi, ffi.dlopen(path)


def _strerror(code: int) -> str:
    """The message of an errno (Linux) or a Win32 error code (Windows)."""
    if os.name == "nt":
        import ctypes

        return f"{ctypes.FormatError(code)} (Win32 error {code})"
    return os.strerror(code)


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


@dataclasses.dataclass(frozen=True)
class WindowsGuardTarget:
    """What the guard watches for one container on Windows.

    :param job: the job's HANDLE as an integer (``int(ffi.cast("uintptr_t",
        handle))``), with ``JOB_OBJECT_QUERY | JOB_OBJECT_TERMINATE |
        JOB_OBJECT_SET_ATTRIBUTES`` access.  The caller keeps it open while it
        is watched.  The guard attaches the job to its completion port (a job
        has at most one) and, on Windows 8+, sets a job notification limit at
        ``memory_limit``.
    :param memory_limit: bytes of commit (sum of the processes'
        PagefileUsage) above which the job is terminated; ``None``: only the
        job's own memory-limit messages count.
    :param sid: the container user's SID (``GetLengthSid`` bytes, at most
        68); processes of that user outside the job are escapees.  ``None``
        turns the escapee sweep off for this container.
    :param exit_code: the exit code of what the guard terminates.
    """

    job: int
    memory_limit: int | None = None
    sid: bytes | None = None
    exit_code: int = 1

    def __post_init__(self) -> None:
        if self.sid is not None and not 8 <= len(self.sid) <= 68:
            raise ValueError(f"a SID has 8 to 68 bytes, not {len(self.sid)}")
        if not self.job:
            raise ValueError("job must be an open job HANDLE")


GuardTarget = LinuxGuardTarget | WindowsGuardTarget


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


class _Watched:
    """One Linux target with its open fds and the C fields that persist across rebuilds."""

    def __init__(self, key: str, target: LinuxGuardTarget) -> None:
        self.key = key
        self.target = target
        self.register_at = time.monotonic() + REGISTER_AFTER  # see REGISTER_AFTER
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
            self.pids_fd = self._open(target.pids_path, os.O_RDONLY)
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
        cell.freezer_fd, cell.procs_fd, cell.pids_fd = self.freezer_fd, self.procs_fd, self.pids_fd
        cell.event_fd, cell.event_kind = self.event_fd, self.event_kind
        cell.threshold_fd = self.threshold_fd
        cell.uid, cell.armed = self.target.uid, 1
        cell.oom_kills, cell.usage, cell.peak = self.oom_kills, self.usage, self.peak
        cell.job = 0

    def save(self, cell) -> None:
        """Keep what the C loop learnt about this target across a rebuild of the array."""
        self.oom_kills, self.usage, self.peak = cell.oom_kills, cell.usage, cell.peak

    def carry(self, old: _Watched) -> None:
        """Continue ``old``'s counters (the same container, new settings)."""
        self.oom_kills, self.peak = old.oom_kills, old.peak

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


class _WindowsWatched:
    """One Windows target and the C fields that persist across rebuilds (no fds of its own)."""

    _cookies = itertools.count(1)

    def __init__(self, key: str, target: WindowsGuardTarget) -> None:
        self.key = key
        self.target = target
        self.cookie = next(self._cookies)  # the job's completion key, for the guard's life
        self.register_at = 0.0  # nothing to register: no reason to wait
        self.attached = 0
        self.notified_limit = -1
        self.oom_kills = self.usage = self.peak = 0

    def register_thresholds(self) -> bool:
        """Nothing to register on Windows: ``ifg_set_targets`` attaches the job."""
        return False

    def fill(self, cell, key_index: int) -> None:
        target = self.target
        cell.key = key_index
        cell.memory_limit = -1 if target.memory_limit is None else target.memory_limit
        cell.usage_fd = cell.oom_fd = cell.event_fd = cell.threshold_fd = -1
        cell.kill_fd = cell.freezer_fd = cell.procs_fd = cell.pids_fd = -1
        cell.event_kind, cell.uid, cell.armed = 0, 0, 1
        cell.oom_kills, cell.usage, cell.peak = self.oom_kills, self.usage, self.peak
        cell.job, cell.cookie, cell.exit_code = target.job, self.cookie, target.exit_code
        cell.attached, cell.notified_limit = self.attached, self.notified_limit
        sid = target.sid or b""
        cell.sid_len = len(sid)
        cell.sid[0:len(sid)] = list(sid)

    def save(self, cell) -> None:
        """Keep what the C loop learnt (and did to the job) across a rebuild of the array."""
        self.usage, self.peak = cell.usage, cell.peak
        self.attached, self.notified_limit = cell.attached, cell.notified_limit

    def carry(self, old: _WindowsWatched) -> None:
        """Continue ``old`` (the same job): its completion key and what was set on the job."""
        self.peak = old.peak
        if old.target.job == self.target.job:
            self.cookie, self.attached, self.notified_limit = old.cookie, old.attached, old.notified_limit

    def close(self) -> None:
        """Nothing to close: the job handle is the caller's."""


_AnyWatched = _Watched | _WindowsWatched


def _watched_for(key: str, target: GuardTarget) -> _AnyWatched:
    if isinstance(target, WindowsGuardTarget):
        return _WindowsWatched(key, target)
    return _Watched(key, target)


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
    :param escape_interval: seconds between escapee sweeps (one /proc scan on
        Linux, one process snapshot on Windows, for all containers); default
        ``max(interval, 0.25)``.

    Targets are :class:`LinuxGuardTarget` or :class:`WindowsGuardTarget`.
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
            raise IronframeError("ifg_new failed: cannot create the guard's epoll/eventfd")
        self._watched: dict[str, _AnyWatched] = {}
        self._retired: list[_AnyWatched] = []
        self._lock = threading.Condition()
        self._generation = 0
        self._applied = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._events = self.ffi.new("struct ifg_event[]", MAX_EVENTS)
        self._cells: tuple = (None, [])
        self._registrations: queue.SimpleQueue[_AnyWatched | None] = queue.SimpleQueue()
        self._unregistered = 0  # queued or being registered (under _lock)
        self._stop_waiting = threading.Event()  # cuts the registrar's REGISTER_AFTER wait short
        self._registrar: threading.Thread | None = None
        self.sweeps = 0

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

    def watch(self, key: str, target: GuardTarget) -> None:
        """Start watching ``target`` under ``key`` (replacing any target of that key).

        Does not wait: the thread is woken and sweeps it in its next cycle.
        Its kernel usage thresholds are registered in the background (until
        then it is polled).
        """
        watched = _watched_for(key, target)
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
            new = _watched_for(key, dataclasses.replace(old.target, memory_limit=memory_limit))
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
        (targets are polled until then; registration starts ``REGISTER_AFTER`` s
        after ``watch``)."""
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
        """Registers kernel thresholds for targets watched ``REGISTER_AFTER`` s ago
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
                log.error("guard cycle failed: %s", _strerror(-count))
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
            cells = self.ffi.new("struct ifg_target[]", max(len(order), 1))
            for index, watched in enumerate(order):
                watched.fill(cells[index], index)
            result = self.lib.ifg_set_targets(self._core, cells, len(order))
            for index, watched in enumerate(order):  # what set_targets did to the jobs (Windows)
                watched.save(cells[index])
            if result < 0:
                log.error("guard could not wait on targets: %s", _strerror(-result))
            self._cells = (cells, order)
            for watched in self._retired:  # the C loop now runs on `cells`: nothing uses these
                watched.close()
            self._retired = []
            self._applied = self._generation  # wait_applied() callers see the fds closed
            self._lock.notify_all()
        return cells, order

    def _collect(self, cells, order: list[_AnyWatched], count: int) -> None:
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


def _event(watched: _AnyWatched, raw, now: float, lib) -> GuardEvent | None:
    limit = watched.target.memory_limit
    if raw.kind == lib.IFG_EVENT_MEMORY:
        return GuardEvent(watched.key, "memory", now, raw.limit, raw.value, detail="usage")
    if raw.kind == lib.IFG_EVENT_JOB_LIMIT:
        message = JOB_MESSAGES.get(raw.detail, str(raw.detail))
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
                    _strerror(raw.value))
        return None
    log.debug("guard: %s unreadable (%s); it is probably being destroyed", watched.key,
              _strerror(raw.value))
    return None
