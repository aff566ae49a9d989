"""The guard's C core (private, not for direct use): see :mod:`ironframe_py.guard`.

``guard_core.h`` declares the core and includes the OS's target struct
(``guard_target_linux.h`` / ``guard_target_windows.h``); the parts between
their CDEF markers are also the cffi cdef (:func:`cdef_text`), both for the
compiled extension (``_guard_build.py``) and for ``ifguard.dll`` opened in ABI
mode on Windows (``Makefile``).
"""

from __future__ import annotations

from ._cdef import GUARD_DIR, cdef_text, target_header

__all__ = ["GUARD_DIR", "cdef_text", "target_header"]
