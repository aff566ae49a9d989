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

Exports that some Windows versions (or Wine) lack are listed in
:data:`_OPTIONAL` by capability; :func:`require` turns a missing one into
:class:`~ironframe_py.UnsupportedOnPlatform` instead of a crash.
"""

from __future__ import annotations

import os
import sys
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


# Capability -> (DLL, exports it needs).  Probed on first use of the capability.
_OPTIONAL: dict[str, tuple[str, tuple[str, ...]]] = {
    # Not exported by Wine 8; on every Windows since 2000.
    "ntfs_quota": ("ntdll.dll", ("NtSetQuotaInformationFile", "NtQueryQuotaInformationFile",
                                 "NtQueryVolumeInformationFile")),
    # Vista+ (Secondary Logon); the launch path.
    "process_with_token": ("advapi32.dll", ("CreateProcessWithTokenW",)),
    # User profiles (userenv.dll), needed to delete a container user's profile.
    "user_profiles": ("userenv.dll", ("LoadUserProfileW", "UnloadUserProfile", "DeleteProfileW")),
}
_missing: dict[str, tuple[str, ...]] = {}


def is_wine() -> bool:
    """True under Wine (it keeps ``HKLM\\Software\\Wine``): some exports there are stubs
    that abort the process when called, which no export probe can see."""
    if sys.platform != "win32":
        return False
    import winreg

    try:
        winreg.CloseKey(winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"Software\Wine"))
    except OSError:
        return False
    return True


def missing_exports(capability: str) -> tuple[str, ...]:
    """The exports of ``capability`` this host's DLL lacks (empty when it is fully there)."""
    if capability not in _missing:
        name, exports = _OPTIONAL[capability]
        lib = dll(name)
        _missing[capability] = tuple(e for e in exports if not _has_export(lib, e))
    return _missing[capability]


def _has_export(lib, export: str) -> bool:
    try:
        getattr(lib, export)
    except AttributeError:  # cffi: "function/symbol ... not found in library"
        return False
    return True


def has(capability: str) -> bool:
    """True if every export ``capability`` needs is present."""
    return not missing_exports(capability)


def require(capability: str) -> None:
    """Raise :class:`UnsupportedOnPlatform` naming the missing exports of ``capability``."""
    missing = missing_exports(capability)
    if missing:
        name = _OPTIONAL[capability][0]
        raise UnsupportedOnPlatform(capability, f"{name} does not export {', '.join(missing)} "
                                    "on this host (Wine, or a Windows too old)")


def message(code: int) -> str:
    """The system's text for Win32 error ``code`` (FormatMessage, through cffi)."""
    from ..._winerror import NAMES

    try:
        text = ffi.getwinerror(code)[1]
    except AttributeError:  # ffi.getwinerror exists only on Windows
        text = ""
    # cffi answers "Windows Error 0x%X" when FormatMessage has no text (the
    # NERR_* codes live in netmsg.dll, not in the system message table).
    if not text or text.startswith("Windows Error"):
        text = NAMES.get(code, f"Win32 error {code}")
    return text


def check_lasterror(function: str, result, failure=0, target: str | None = None):
    """Raise the typed error if ``result`` equals ``failure``; else return ``result``."""
    if result == failure:
        code, text = ffi.getwinerror()
        raise os_error(function, winerror=code, strerror=text, target=target)
    return result


def check_status(function: str, status: int, target: str | None = None) -> None:
    """Raise the typed error for a non-zero status return."""
    if status != 0:
        raise os_error(function, winerror=status, strerror=message(status), target=target)


def ntstatus_failed(status: int) -> bool:
    """True for an NTSTATUS of severity error or warning (top bit set)."""
    return bool(status & 0x80000000)


def check_ntstatus(function: str, status: int, target: str | None = None) -> None:
    """Raise the typed error for a failing NTSTATUS (keeping the raw NTSTATUS)."""
    if ntstatus_failed(status):
        raw = status & 0xFFFFFFFF
        mapped = dll("ntdll.dll").RtlNtStatusToDosError(raw - (1 << 32) if raw >> 31 else raw)
        raise os_error(function, winerror=mapped, strerror=message(mapped), ntstatus=raw,
                       target=target)


def text_of(pointer, length: int | None = None) -> str:
    """The ``str`` at a ``WCHAR *`` (NUL-terminated, or ``length`` units)."""
    if pointer == NULL:
        return ""
    units = ffi.cast("WCHAR *", pointer)
    if length is None:  # WCHAR is uint16_t (wchar_t is 4 bytes on Linux), so no ffi.string
        length = 0
        while units[length]:
            length += 1
    return bytes(ffi.buffer(units, 2 * length)).decode("utf-16-le", "surrogatepass")


def wide(text: str | None):
    """A NUL-terminated UTF-16 ``WCHAR[]`` for ``text`` (``NULL`` for ``None``)."""
    if text is None:
        return NULL
    units = text.encode("utf-16-le")
    buffer = ffi.new("WCHAR[]", len(units) // 2 + 1)
    ffi.memmove(buffer, units, len(units))
    return buffer


__all__ = ["INVALID_HANDLE_VALUE", "NULL", "OSCallError", "check_lasterror", "check_ntstatus",
           "check_status", "dll", "has", "is_wine", "message", "missing_exports", "require", "system32",
           "text_of", "wide"]
