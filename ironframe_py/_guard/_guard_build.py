"""cffi API-mode build of ``ironframe_py._guard._core`` (private).

The cdef is the part of ``guard_core.h`` between its CDEF markers, so the
header is the single declaration of the interface.  Linux builds
``guard_core.c`` + ``guard_linux.c`` + ``guard_tasks.c``; Windows builds ``guard_core.c`` +
``guard_win.c``.  cffi releases the GIL around every call, so the guard's
blocking wait never holds it.
"""

from __future__ import annotations

import pathlib
import sys

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULE = "ironframe_py._guard._core"


def cdef_text() -> str:
    """The declarations between ``CDEF-BEGIN`` and ``CDEF-END`` in guard_core.h.

    (The package's ``_guard/__init__.py`` has the same function for ABI mode:
    setuptools runs this file as a script, so it cannot import the package.)
    """
    header = (HERE / "guard_core.h").read_text()
    return header.split("/* CDEF-BEGIN */", 1)[1].split("/* CDEF-END */", 1)[0]


def sources(platform: str = sys.platform) -> list[str]:
    """The C files for ``platform``, relative to the project root (as setuptools wants)."""
    own = ["guard_win.c"] if platform == "win32" else ["guard_linux.c", "guard_tasks.c"]
    return [str((HERE / name).relative_to(ROOT)) for name in ("guard_core.c", *own)]


def make_builder(platform: str = sys.platform) -> FFI:
    """The FFI builder for ``platform``."""
    builder = FFI()
    builder.cdef(cdef_text())
    windows = platform == "win32"
    builder.set_source(MODULE, '#include "guard_core.h"', sources=sources(platform),
                       include_dirs=[str(HERE)],
                       extra_compile_args=["/W3"] if windows else ["-O2", "-Wall", "-Wextra"],
                       libraries=["advapi32"] if windows else [],
                       # MSVC: getenv (IRONFRAME_DEBUG) is standard C, not "unsafe".
                       define_macros=[("_CRT_SECURE_NO_WARNINGS", "1")] if windows else [],
                       # Windows: a failed MSVC build must not fail `pip install`; the
                       # guard then loads ifguard.dll (mingw) if the package has one.
                       optional=windows)
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT), verbose=False)
