"""Tier-1 checked Win32 calls (private): one module per DLL, one function per call.

Primitives reach these through an :class:`Api` bundle so that the
orchestration tests can hand them the in-memory fake (``tests/windows_fake.py``)
with the same function names and error conventions.  Importing this
package opens no DLL.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

from .. import _dll
from . import advapi32, crt, kernel32, netapi32, ntdll, userenv


@dataclasses.dataclass(frozen=True)
class Api:
    """The tier-1 modules (or fakes of them) a primitive calls, plus the capability probe."""

    kernel32: Any
    advapi32: Any
    netapi32: Any
    userenv: Any
    ntdll: Any
    crt: Any  # the C runtime's fd -> handle mapping
    has: Any  # capability name -> bool (see _dll._OPTIONAL)
    require: Any  # capability name -> None, or raises UnsupportedOnPlatform
    is_wine: Any  # () -> bool


REAL = Api(kernel32=kernel32, advapi32=advapi32, netapi32=netapi32, userenv=userenv, ntdll=ntdll,
           crt=crt,
           has=_dll.has, require=_dll.require, is_wine=_dll.is_wine)
"""The real Win32 calls."""


def modules() -> list[ModuleType]:
    """The real tier-1 modules, for checks that every fake function exists there too."""
    return [kernel32, advapi32, netapi32, userenv, ntdll, crt]
