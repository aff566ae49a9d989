"""Lazy loading of the Windows system DLLs and the three failure conventions (private).

A DLL is opened on first use, by its full path under ``%SystemRoot%\\System32``
(never from the current directory or PATH), so importing this package on
Linux never touches one.  Each checked call (tier 1, in :mod:`._api`)
declares how its failure shows:

``lasterror``
    the return value equals a declared failure value (``0``/``NULL``, or
    ``INVALID_HANDLE_VALUE`` for the few functions that use it), and
    ``GetLastError`` holds the code -- read from cffi's saved copy at once;
``status``
    the return value *is* the error code (``NET_API_STATUS``, the ACL calls);
``ntstatus``
    the return value is an NTSTATUS, kept on the error next to the Win32
    code ``RtlNtStatusToDosError`` maps it to.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ...errors import OSCallError, UnsupportedOnPlatform, os_error
from ._ffi import ffi

INVALID_HANDLE_VALUE = ffi.cast("HANDLE", -1)
NULL = ffi.NULL

_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def system32() -> str:
    """The System32 directory of this Windows installation."""
    return os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32")


def dll(name: str):
    """The ``ffi.dlopen`` handle of ``name`` (e.g. ``"kernel32.dll"``), opened once."""
    with _lock:
        lib = _loaded.get(name)
        if lib is None:
            if os.name != "nt":
                raise UnsupportedOnPlatform(name, "Win32 DLLs exist only on Windows")
            lib = _loaded[name] = ffi.dlopen(os.path.join(system32(), name))
        return lib


def check_lasterror(function: str, result, failure=0, target: str | None = None):
    """Raise the typed error if ``result`` equals ``failure``; else return ``result``."""
    if result == failure:
        code, message = ffi.getwinerror()
        raise os_error(function, winerror=code, strerror=message, target=target)
    return result


def check_status(function: str, status: int, target: str | None = None) -> None:
    """Raise the typed error for a non-zero status return."""
    if status != 0:
        raise os_error(function, winerror=status, target=target)


def check_ntstatus(function: str, status: int, target: str | None = None) -> None:
    """Raise the typed error for a failing NTSTATUS (keeping the raw NTSTATUS)."""
    if status < 0 or status >= 0x80000000:
        mapped = dll("ntdll.dll").RtlNtStatusToDosError(status)
        raise os_error(function, winerror=mapped, ntstatus=status, target=target)


def wide(text: str | None):
    """A NUL-terminated UTF-16 ``WCHAR[]`` for ``text`` (``NULL`` for ``None``)."""
    if text is None:
        return NULL
    units = text.encode("utf-16-le")
    buffer = ffi.new("WCHAR[]", len(units) // 2 + 1)
    ffi.memmove(buffer, units, len(units))
    return buffer


__all__ = ["INVALID_HANDLE_VALUE", "NULL", "OSCallError", "check_lasterror", "check_ntstatus",
           "check_status", "dll", "system32", "wide"]
