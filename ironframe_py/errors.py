"""The one exception hierarchy of ironframe_py.

Every error the library raises derives from :class:`IronframeError`.  Errors
that come from an operating-system call are :class:`OSCallError` subclasses
and also derive from the matching builtin (``PermissionError``,
``FileNotFoundError``, ...), so callers may catch either.

The mapping from an errno / Win32 error code to a class is explicit
(:func:`os_error`), because Python only picks an ``OSError`` subclass when
``OSError`` itself is constructed, and ignores ``winerror`` off Windows.
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "IronframeError",
    "SpecError",
    "UnsupportedOnPlatform",
    "OSCallError",
    "AccessDenied",
    "NotFound",
    "AlreadyExists",
    "QuotaExceeded",
    "ContainerNotFound",
    "ContainerExists",
    "ExecutableNotFound",
    "InvalidState",
    "CleanupError",
    "ProcessesSurvived",
    "StoreError",
    "ResourceExhausted",
    "GuardError",
    "ToolFailed",
    "os_error",
]


class IronframeError(Exception):
    """Root of the hierarchy; never raised directly (a test checks the package for it)."""

    __module__ = "ironframe_py"


class SpecError(IronframeError, ValueError):
    """A spec field breaks a rule; raised before any OS resource is touched.

    ``field`` names the offending field (``"limits.memory"``,
    ``"handle"``, ``"argv[0]"``) and ``rule`` says what it must satisfy.
    """

    __module__ = "ironframe_py"

    def __init__(self, field: str, rule: str, value: object = None) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        super().__init__(f"{field}: {rule} (got {value!r})")

    def __reduce__(self):
        return (type(self), (self.field, self.rule, self.value))


class ExecutableNotFound(SpecError):
    """``argv[0]`` names no program the container can run.

    ``exists`` is true when something is there but it is not an executable
    regular file (the ``ironframe`` command exits 126 for it, 127 when
    nothing is there, as shells and container CLIs do).
    """

    __module__ = "ironframe_py"

    def __init__(self, rule: str, value: object, exists: bool = False) -> None:
        super().__init__("argv[0]", rule, value)
        self.exists = exists

    def __reduce__(self):
        return (type(self), (self.rule, self.value, self.exists))


class UnsupportedOnPlatform(IronframeError):
    """The feature exists in the API but this OS or host cannot provide it."""

    __module__ = "ironframe_py"

    def __init__(self, feature: str, reason: str) -> None:
        self.feature = feature
        self.reason = reason
        super().__init__(f"{feature} is not supported here: {reason}")

    def __reduce__(self):
        return (type(self), (self.feature, self.reason))


class OSCallError(IronframeError, OSError):
    """An operating-system call failed.

    Attributes: ``function`` (the OS call, e.g. ``"NetUserAdd"`` or
    ``"mount"``), ``errno`` (POSIX) or ``winerror`` (Win32; ``None`` on
    Linux), ``target`` (the path, user, job or cgroup involved) and
    ``strerror`` (the OS message).  ``ntstatus`` keeps a raw NTSTATUS where
    the call returned one.
    """

    __module__ = "ironframe_py"

    def __init__(
        self,
        function: str,
        code: int,
        strerror: str | None = None,
        target: str | None = None,
        *,
        winerror: int | None = None,
        ntstatus: int | None = None,
    ) -> None:
        if strerror is None:
            strerror = os.strerror(code) if winerror is None else f"Win32 error {winerror}"
        super().__init__(code, strerror)
        self.function = function
        self.target = target
        self.winerror = winerror
        self.ntstatus = ntstatus

    def __str__(self) -> str:
        name = _errno.errorcode.get(self.errno, "?") if self.errno is not None else "?"
        code = f"winerror {self.winerror}" if self.winerror is not None else f"errno {self.errno} ({name})"
        where = f" on {self.target!r}" if self.target else ""
        nt = f", NTSTATUS 0x{self.ntstatus & 0xFFFFFFFF:08X}" if self.ntstatus is not None else ""
        return f"{self.function} failed{where}: {self.strerror} [{code}{nt}]"

    def __reduce__(self):
        return (
            _rebuild_os_call_error,
            (type(self), self.function, self.errno, self.strerror, self.target,
             self.winerror, self.ntstatus),
        )


def _rebuild_os_call_error(cls, function, code, strerror, target, winerror, ntstatus):
    return cls(function, code, strerror, target, winerror=winerror, ntstatus=ntstatus)


class AccessDenied(OSCallError, PermissionError):
    """The OS refused the call for lack of rights (EACCES/EPERM, ERROR_ACCESS_DENIED)."""

    __module__ = "ironframe_py"


class NotFound(OSCallError, FileNotFoundError):
    """The object the call named does not exist (ENOENT, ERROR_FILE_NOT_FOUND, NERR_UserNotFound)."""

    __module__ = "ironframe_py"


class AlreadyExists(OSCallError, FileExistsError):
    """The object the call would create exists already (EEXIST, NERR_UserExists)."""

    __module__ = "ironframe_py"


class IdentityTaken(AlreadyExists):
    """Another service on the host claimed the uid picked for a new container at the same
    moment; :meth:`ContainerService.create` then picks another one."""

    __module__ = "ironframe_py"


class QuotaExceeded(OSCallError):
    """A disk quota or size limit was hit (EDQUOT, ENOSPC on a container filesystem)."""

    __module__ = "ironframe_py"


class ContainerNotFound(IronframeError, LookupError):
    """No container with that handle is known to the service."""

    __module__ = "ironframe_py"

    def __init__(self, handle: str) -> None:
        self.handle = handle
        super().__init__(f"unknown handle: {handle!r}")

    def __reduce__(self):
        return (type(self), (self.handle,))


class ContainerExists(IronframeError):
    """A container with that handle (compared without case) exists already."""

    __module__ = "ironframe_py"

    def __init__(self, handle: str) -> None:
        self.handle = handle
        super().__init__(f"a container called {handle!r} exists already")

    def __reduce__(self):
        return (type(self), (self.handle,))


class InvalidState(IronframeError):
    """The operation is not allowed in the container's (or object's) current state."""

    __module__ = "ironframe_py"

    def __init__(self, state: str, operation: str, detail: str = "") -> None:
        self.state = state
        self.operation = operation
        msg = f"cannot {operation} while {state}"
        super().__init__(f"{msg}: {detail}" if detail else msg)

    def __reduce__(self):
        return (type(self), (self.state, self.operation))


class ProcessesSurvived(IronframeError, TimeoutError):
    """Processes of a container were still alive when a kill's deadline passed.

    ``target`` names what was being emptied (cgroups, a uid, a job) and
    ``pids`` the processes left.
    """

    __module__ = "ironframe_py"

    def __init__(self, target: str, pids: object, timeout: float) -> None:
        self.target = target
        self.pids = list(pids) if isinstance(pids, (list, tuple, set)) else pids
        self.timeout = timeout
        super().__init__(f"processes survived the kill of {target} for {timeout:g} s: {self.pids}")

    def __reduce__(self):
        return (type(self), (self.target, self.pids, self.timeout))


class StoreError(IronframeError):
    """The state store cannot be used as it is (another schema, damaged, inconsistent)."""

    __module__ = "ironframe_py"


class ResourceExhausted(IronframeError):
    """A finite pool the service hands out from (the uid range) has nothing left."""

    __module__ = "ironframe_py"


class GuardError(IronframeError):
    """The guard's C core could not be loaded, started or stopped."""

    __module__ = "ironframe_py"


class ToolFailed(IronframeError):
    """An external program the backend runs (``mkfs.ext4``) exited with an error."""

    __module__ = "ironframe_py"

    def __init__(self, tool: str, status: int, stderr: str, target: str | None = None) -> None:
        self.tool = tool
        self.status = status
        self.stderr = stderr
        self.target = target
        where = f" on {target}" if target else ""
        super().__init__(f"{tool} failed{where} (exit {status}): {stderr.strip()}")

    def __reduce__(self):
        return (type(self), (self.tool, self.status, self.stderr, self.target))


class CleanupError(IronframeError, ExceptionGroup):
    """Raised after *all* cleanup steps were tried, listing every one that failed."""

    __module__ = "ironframe_py"

    def __new__(cls, message: str, errors):
        return super().__new__(cls, message, list(errors))

    def derive(self, excs):
        return CleanupError(self.message, excs)


# --- errno / Win32 code -> class ------------------------------------------

_ERRNO_CLASSES: dict[int, type[OSCallError]] = {
    _errno.EACCES: AccessDenied,
    _errno.EPERM: AccessDenied,
    _errno.ENOENT: NotFound,
    _errno.ESRCH: NotFound,
    _errno.EEXIST: AlreadyExists,
    _errno.EDQUOT: QuotaExceeded,
}

# The codes come from the one generated table (tools/gen_winerror.py, from mingw-w64's
# headers), a module that imports nothing.
from ._winerror import (  # noqa: E402 (kept next to the table that uses them)
    ERROR_ACCESS_DENIED,
    ERROR_ALREADY_EXISTS,
    ERROR_DISK_QUOTA_EXCEEDED,
    ERROR_FILE_NOT_FOUND,
    ERROR_NONE_MAPPED,
    ERROR_PATH_NOT_FOUND,
    ERROR_PRIVILEGE_NOT_HELD,
    NERR_GroupNotFound,
    NERR_UserExists,
    NERR_UserNotFound,
)

_WINERROR_CLASSES: dict[int, type[OSCallError]] = {
    ERROR_ACCESS_DENIED: AccessDenied,
    ERROR_PRIVILEGE_NOT_HELD: AccessDenied,
    ERROR_FILE_NOT_FOUND: NotFound,
    ERROR_PATH_NOT_FOUND: NotFound,
    NERR_UserNotFound: NotFound,
    NERR_GroupNotFound: NotFound,
    ERROR_NONE_MAPPED: NotFound,
    ERROR_ALREADY_EXISTS: AlreadyExists,
    NERR_UserExists: AlreadyExists,
    ERROR_DISK_QUOTA_EXCEEDED: QuotaExceeded,
}


def os_error(
    function: str,
    *,
    errno: int | None = None,
    winerror: int | None = None,
    target: str | None = None,
    strerror: str | None = None,
    ntstatus: int | None = None,
) -> OSCallError:
    """Build (not raise) the typed error for a failed OS call.

    Give exactly one of ``errno`` (POSIX) or ``winerror`` (Win32).  The
    caller raises the result, so tracebacks point at the failing call site.
    """
    if winerror is not None and errno is None:
        cls = _WINERROR_CLASSES.get(winerror, OSCallError)
        # OSError's errno slot holds the Win32 code, as CPython does on Windows.
        return cls(function, winerror, strerror or f"Win32 error {winerror}", target,
                   winerror=winerror, ntstatus=ntstatus)
    if errno is not None and winerror is None:
        cls = _ERRNO_CLASSES.get(errno, OSCallError)
        return cls(function, errno, strerror, target, ntstatus=ntstatus)
    raise TypeError("os_error() takes exactly one of errno= or winerror=")


def from_oserror(function: str, err: OSError, target: str | None = None) -> OSCallError:
    """Convert a builtin ``OSError`` (from ``os.*``) into the typed error."""
    winerror = getattr(err, "winerror", None)
    if winerror is not None:
        return os_error(function, winerror=winerror, target=target or err.filename,
                        strerror=err.strerror)
    return os_error(function, errno=err.errno or 0, target=target or err.filename,
                    strerror=err.strerror)
