"""The parsed Win32 declarations (private): one ``cffi.FFI`` for every DLL.

cffi ABI mode, in-line: the cdef text of ``_cdefs/*.h`` is parsed at import,
which works on any OS (so Linux CI can check layouts and run the fake
binding) and needs no compiler on a Windows host.  The DLLs themselves are
opened lazily by :mod:`._dll`, never at import.

Declarations use fixed-width types only (``DWORD`` = ``uint32_t``,
``HANDLE`` = ``void *``), so cffi computes the Win64 (LLP64) layout even on
LP64 Linux; ``tools/check_win_layout.py`` proves it against mingw-w64.
"""

from __future__ import annotations

import pathlib
import re
import types

import cffi  # type: ignore[import-untyped]

CDEF_DIR = pathlib.Path(__file__).resolve().parent / "_cdefs"

# Order matters: later files use types declared in earlier ones.
CDEF_FILES = ("types.h", "kernel32.h", "advapi32.h", "netapi32.h", "userenv.h", "ntdll.h")


def cdef_text() -> str:
    """Every declaration, in dependency order (files not yet written are skipped)."""
    parts = []
    for name in CDEF_FILES:
        path = CDEF_DIR / name
        if path.exists():
            parts.append(f"/* --- {name} --- */\n" + path.read_text())
    return "\n".join(parts)


ffi = cffi.FFI()
ffi.cdef(cdef_text(), packed=False)


def _constants(text: str) -> dict[str, int]:
    return {name: int(value, 0) for name, value in
            re.findall(r"^#define\s+(\w+)\s+(0[xX][0-9a-fA-F]+|\d+)\s*$", text, re.M)}


C = types.SimpleNamespace(**_constants(cdef_text()))
"""Every ``#define`` of the cdefs by name (``C.JOB_OBJECT_LIMIT_JOB_MEMORY``): the values the
mingw-w64 layout check verified, usable without opening a DLL (ABI mode exposes
constants only through a loaded library)."""
