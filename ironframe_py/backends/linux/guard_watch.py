"""The Linux half of the guard (:mod:`ironframe_py.guard` loads it as its platform):
a watched container's cgroup files held open, its kernel event sources, and
the C target (``struct ifg_linux_target``) filled from them.

Implements :class:`~ironframe_py.backends.base.GuardWatch`.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from .cgroup import read_oom_kills
from .guard_target import LinuxGuardTarget

__all__ = ["EVENT_DETAILS", "REGISTER_AFTER", "LinuxWatched", "strerror", "watched_for"]

# Kernel usage thresholds are registered only for containers watched this long:
# a registration takes an RCU grace period (~10 ms per threshold), and a cgroup
# removed meanwhile waits for it, so short-lived containers (polled until then)
# would pay it in destroy().
REGISTER_AFTER = 0.2
# What an event's `detail` code means (Linux events carry none).
EVENT_DETAILS: dict[int, str] = {}


def strerror(code: int) -> str:
    """The message of an errno the C core reports."""
    return os.strerror(code)


def watched_for(key: str, target: Any) -> LinuxWatched:
    """Open what the guard needs to watch ``target`` under ``key``."""
    if not isinstance(target, LinuxGuardTarget):
        raise TypeError(f"the Linux guard watches LinuxGuardTarget, not {type(target).__name__}")
    return LinuxWatched(key, target)


class LinuxWatched:
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
                self.oom_kills = read_oom_kills(target.oom_path)
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

    def fill(self, cell: Any, key_index: int) -> None:
        """Write this target into one C target."""
        limit = self.target.memory_limit
        cell.key = key_index
        cell.memory_limit = -1 if limit is None else limit
        cell.usage_fd, cell.oom_fd, cell.kill_fd = self.usage_fd, self.oom_fd, self.kill_fd
        cell.freezer_fd, cell.procs_fd, cell.pids_fd = self.freezer_fd, self.procs_fd, self.pids_fd
        cell.event_fd, cell.event_kind = self.event_fd, self.event_kind
        cell.threshold_fd = self.threshold_fd
        cell.uid, cell.armed = self.target.uid, 1
        cell.oom_kills, cell.usage, cell.peak = self.oom_kills, self.usage, self.peak

    def save(self, cell: Any) -> None:
        """Keep what the C loop learnt about this target across a rebuild of the array."""
        self.oom_kills, self.usage, self.peak = cell.oom_kills, cell.usage, cell.peak

    def carry(self, old: LinuxWatched) -> None:
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
