"""cffi API-mode build of ``ironframe_py.backends.linux._native`` (private).

The cdef is every ``_cdefs/*.h`` file, in name order: each holds the cffi
declarations of one concern (``libc.h``, ``libacl.h``, ``disk.h``, ...),
with constants written as ``...`` so the compiler takes their values from
the real glibc / libacl headers.  The C preamble is every ``_csrc/*.h``
file (the real ``#include`` lines plus small helper declarations) and the
extra sources are every ``_csrc/*.c`` file (the spawn helper).  API mode
means a wrong declaration fails the build instead of corrupting memory.
"""

from __future__ import annotations

import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
MODULE = "ironframe_py.backends.linux._native"


def _read_all(folder: str, suffix: str) -> list[pathlib.Path]:
    return sorted((HERE / folder).glob(f"*{suffix}"))


def cdef_text() -> str:
    """All cffi declarations, concatenated in file-name order."""
    return "\n".join(path.read_text() for path in _read_all("_cdefs", ".h"))


def preamble_text() -> str:
    """The C preamble: real headers and helper prototypes."""
    return "\n".join(path.read_text() for path in _read_all("_csrc", ".h"))


def make_builder() -> FFI:
    """Build the FFI object (also used by tests to check the declarations)."""
    builder = FFI()
    builder.cdef(cdef_text())
    sources = [str(path.relative_to(HERE.parents[2])) for path in _read_all("_csrc", ".c")]
    builder.set_source(
        MODULE,
        preamble_text(),
        sources=sources,
        # _guard/proc_ids.h: the guard core's definition of "a process of the user"
        include_dirs=[str(HERE / "_csrc"), str(HERE.parents[1] / "_guard")],
        libraries=["acl"],
        extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(HERE.parents[2]), verbose=True)
