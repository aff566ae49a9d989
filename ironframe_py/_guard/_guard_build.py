"""cffi API-mode build of ``ironframe_py._guard._core`` (private).

The cdef is the part of ``guard_core.h`` and of the OS's target header
between their CDEF markers (``_cdef.py``), so the headers are the single
declaration of the interface.  Linux builds
``guard_core.c`` + ``guard_linux.c`` + ``guard_tasks.c``; Windows builds ``guard_core.c`` +
``guard_win.c``.  cffi releases the GIL around every call, so the guard's
blocking wait never holds it.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

from cffi import FFI  # type: ignore[import-untyped]

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULE = "ironframe_py._guard._core"


def _load_cdef():
    """``_cdef.py`` by path: setuptools runs this file as a script, outside the package."""
    spec = importlib.util.spec_from_file_location("_ironframe_guard_cdef", HERE / "_cdef.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_cdef = _load_cdef()


def sources(platform: str = sys.platform) -> list[str]:
    """The C files for ``platform``, relative to the project root (as setuptools wants)."""
    own = ["guard_win.c"] if platform == "win32" else ["guard_linux.c", "guard_tasks.c"]
    return [str((HERE / name).relative_to(ROOT)) for name in ("guard_core.c", *own)]


def make_builder(platform: str = sys.platform) -> FFI:
    """The FFI builder for ``platform``."""
    builder = FFI()
    builder.cdef(_cdef.cdef_text(platform))
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
