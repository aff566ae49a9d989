"""Check the Win32 cdefs against mingw-w64's real Windows headers.

Generates C that ``_Static_assert``s, for every declaration in
``ironframe_py/backends/windows/_cdefs``:

* every struct's size and every field's offset, as cffi computed them
  (cffi on Linux computes the Win64 layout because the cdefs use only
  fixed-width types);
* every scalar typedef's size;
* every ``#define`` constant's value;
* every function's full prototype, by initialising a function pointer of
  the declared type with the real function (a mismatch is an
  incompatible-pointer error under ``-Werror``);

and compiles it with ``x86_64-w64-mingw32-gcc -fsyntax-only -Werror``.

    python tools/check_win_layout.py [--print]

Exit status 0 if every declaration matches.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ironframe_py.backends.windows import _ffi  # noqa: E402

COMPILER = "x86_64-w64-mingw32-gcc"
HEADERS = ("windows.h", "psapi.h", "lm.h", "aclapi.h", "userenv.h", "sddl.h", "winternl.h")
# Typedefs that exist only in our cdef (they stand for a Windows enum or union).
OURS_ONLY = {"JOBOBJECTINFOCLASS"}
_DEFINE = re.compile(r"^#define\s+(\w+)\s+(\S+)\s*$", re.M)
_FUNCTION = re.compile(r"^([A-Za-z_][\w ]*?[\s*]+)(\w+)\((.*)\);\s*$", re.M)


def _assert(expression: str, message: str) -> str:
    return f'_Static_assert({expression}, "{message}");'


def struct_checks(ffi) -> list[str]:
    """Size and field offsets of every struct typedef."""
    lines = []
    typedefs, _, _ = ffi.list_types()
    for name in sorted(typedefs):
        if name in OURS_ONLY:
            continue
        ctype = ffi.typeof(name)
        if ctype.kind == "struct":
            if ctype.fields is None:
                continue  # opaque: only used by pointer
            lines.append(_assert(f"sizeof({name}) == {ffi.sizeof(name)}", f"sizeof {name}"))
            for field, _ in ctype.fields:
                lines.append(_assert(f"offsetof({name}, {field}) == {ffi.offsetof(name, field)}",
                                     f"offset of {name}.{field}"))
        elif ctype.kind in ("primitive", "pointer"):
            lines.append(_assert(f"sizeof({name}) == {ffi.sizeof(name)}", f"sizeof {name}"))
    return lines


def constant_checks(text: str) -> list[str]:
    """The value of every ``#define``."""
    return [_assert(f"({name}) == ({value})", f"value of {name}")
            for name, value in _DEFINE.findall(text)]


def function_checks(text: str) -> list[str]:
    """Each prototype, as a function pointer initialised with the real function."""
    lines = []
    for ret, name, params in _FUNCTION.findall(text):
        lines.append(f"static {ret.strip()} (WINAPI *const check_{name})({params}) = {name};")
    return lines


def generate() -> str:
    """The whole C file."""
    text = _ffi.cdef_text()
    parts = ["#define WIN32_LEAN_AND_MEAN", "#define PSAPI_VERSION 2", "#include <stddef.h>"]
    parts += [f"#include <{header}>" for header in HEADERS]
    parts += struct_checks(_ffi.ffi) + constant_checks(text) + function_checks(text)
    parts.append("int ifl_layout_checked;")
    return "\n".join(parts) + "\n"


def compile_checks(source: str) -> subprocess.CompletedProcess:
    """Compile ``source`` with mingw-w64; the result carries the compiler's messages."""
    return subprocess.run([COMPILER, "-std=gnu11", "-fsyntax-only", "-Werror", "-Wall",
                           "-Wno-unused-variable", "-Wno-unused-const-variable", "-x", "c", "-"],
                          input=source, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    """Generate, compile, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print the generated C")
    args = parser.parse_args(argv)
    source = generate()
    if args.print:
        print(source)
    if shutil.which(COMPILER) is None:
        print(f"{COMPILER} is not installed (Debian: apt-get install mingw-w64)", file=sys.stderr)
        return 2
    result = compile_checks(source)
    checks = source.count("_Static_assert") + source.count("static ")
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return 1
    print(f"{checks} Win32 declarations match mingw-w64's headers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
