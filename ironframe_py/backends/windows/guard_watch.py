"""The Windows half of the guard (:mod:`ironframe_py.guard` loads it as its platform):
a watched job and the C target (``struct ifg_windows_target``) filled from it.

Implements :class:`~ironframe_py.backends.base.GuardWatch`.  Nothing to open
or register: ``ifg_set_targets`` attaches the job to the guard's completion
port and sets its notification limit.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from .guard_target import WindowsGuardTarget

__all__ = ["EVENT_DETAILS", "WindowsWatched", "strerror", "watched_for"]

# JOB_OBJECT_MSG_* codes (winnt.h) a job-limit event can carry in its detail.
EVENT_DETAILS = {9: "PROCESS_MEMORY_LIMIT", 10: "JOB_MEMORY_LIMIT", 11: "NOTIFICATION_LIMIT"}


def strerror(code: int) -> str:
    """The message of a Win32 error code the C core reports."""
    if sys.platform == "win32":
        import ctypes

        return f"{ctypes.FormatError(code)} (Win32 error {code})"
    return f"Win32 error {code}"


def watched_for(key: str, target: Any) -> WindowsWatched:
    """Watch ``target`` under ``key``."""
    if not isinstance(target, WindowsGuardTarget):
        raise TypeError(f"the Windows guard watches WindowsGuardTarget, not {type(target).__name__}")
    return WindowsWatched(key, target)


class WindowsWatched:
    """One Windows target and the C fields that persist across rebuilds (no fds of its own)."""

    _cookies = itertools.count(1)

    def __init__(self, key: str, target: WindowsGuardTarget) -> None:
        self.key = key
        self.target = target
        self.cookie = next(self._cookies)  # the job's completion key, for the guard's life
        self.register_at = 0.0  # nothing to register: no reason to wait
        self.attached = 0
        self.notified_limit = -1
        self.usage = self.peak = 0

    def register_thresholds(self) -> bool:
        """Nothing to register on Windows: ``ifg_set_targets`` attaches the job."""
        return False

    def fill(self, cell: Any, key_index: int) -> None:
        """Write this target into one C target."""
        target = self.target
        cell.key = key_index
        cell.memory_limit = -1 if target.memory_limit is None else target.memory_limit
        cell.armed, cell.usage, cell.peak = 1, self.usage, self.peak
        cell.job, cell.cookie, cell.exit_code = target.job, self.cookie, target.exit_code
        cell.attached, cell.notified_limit = self.attached, self.notified_limit
        sid = target.sid or b""
        cell.sid_len = len(sid)
        cell.sid[0:len(sid)] = list(sid)

    def save(self, cell: Any) -> None:
        """Keep what the C loop learnt (and did to the job) across a rebuild of the array."""
        self.usage, self.peak = cell.usage, cell.peak
        self.attached, self.notified_limit = cell.attached, cell.notified_limit

    def carry(self, old: WindowsWatched) -> None:
        """Continue ``old`` (the same job): its completion key and what was set on the job."""
        self.peak = old.peak
        if old.target.job == self.target.job:
            self.cookie, self.attached, self.notified_limit = old.cookie, old.attached, old.notified_limit

    def close(self) -> None:
        """Nothing to close: the job handle is the caller's."""
