"""The guard's C core (private, not for direct use): see :mod:`ironframe_py.guard`.

``guard_core.h`` declares the core; the part between its CDEF markers is
also the cffi cdef, both for the compiled extension (``_guard_build.py``)
and for ``ifguard.dll`` opened in ABI mode on Windows (``Makefile``).
"""

from __future__ import annotations

import os

GUARD_DIR = os.path.dirname(os.path.abspath(__file__))


def cdef_text() -> str:
    """The declarations between ``CDEF-BEGIN`` and ``CDEF-END`` in guard_core.h.

    (``_guard_build.py`` has its own copy: setuptools runs it as a script.)
    """
    with open(os.path.join(GUARD_DIR, "guard_core.h"), encoding="utf-8") as header:
        text = header.read()
    return text.split("/* CDEF-BEGIN */", 1)[1].split("/* CDEF-END */", 1)[0]
