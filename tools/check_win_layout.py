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
# Each cdef file is checked in the translation unit whose headers declare it:
# the SDK headers for the user-mode DLLs; the WDK's ntifs.h (which cannot be
# mixed with windows.h) for the NT quota calls.
UNITS = (
    (("types.h", "kernel32.h", "advapi32.h", "netapi32.h", "userenv.h"),
     ("windows.h", "psapi.h", "lm.h", "aclapi.h", "userenv.h", "sddl.h", "winternl.h"), False),
    (("ntdll.h",), ("ntifs.h",), True),
)
# Typedefs that exist only in our cdef (they stand for a Windows enum or union).
OURS_ONLY: set[str] = set()
_DEFINE = re.compile(r"^#define\s+(\w+)\s+(\S+)\s*$", re.M)
_FUNCTION = re.compile(r"^([A-Za-z_][\w ]*?[\s*]+)(\w+)\((.*)\);\s*$", re.M)
_TYPEDEF = re.compile(r"^typedef\s[^;{]*?(\w+)\s*;|^}\s*(\w+)\s*;", re.M)


def _assert(expression: str, message: str) -> str:
    return f'_Static_assert({expression}, "{message}");'


def declared_types(text: str) -> set[str]:
    """The typedef names a cdef text declares."""
    return {scalar or struct for scalar, struct in _TYPEDEF.findall(text)}


def struct_checks(ffi, names: set[str] | None = None) -> list[str]:
    """Size and field offsets of every struct typedef (of ``names``, if given)."""
    lines = []
    typedefs, _, _ = ffi.list_types()
    for name in sorted(typedefs):
        if name in OURS_ONLY or (names is not None and name not in names):
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


def _file_text(name: str) -> str:
    return (_ffi.CDEF_DIR / name).read_text()


def generate_unit(files: tuple[str, ...], headers: tuple[str, ...]) -> str:
    """One C translation unit checking the declarations of ``files``."""
    text = "\n".join(_file_text(name) for name in files)
    parts = ["#define WIN32_LEAN_AND_MEAN", "#define PSAPI_VERSION 2", "#include <stddef.h>"]
    parts += [f"#include <{header}>" for header in headers]
    parts += struct_checks(_ffi.ffi, declared_types(text)) + constant_checks(text)
    parts += function_checks(text)
    parts.append("int ifl_layout_checked;")
    return "\n".join(parts) + "\n"


def generate() -> str:
    """The user-mode translation unit (everything but ntdll.h)."""
    files, headers, _ = UNITS[0]
    return generate_unit(files, headers)


def generate_all() -> list[tuple[str, bool]]:
    """Every translation unit, with whether it needs the WDK include directory."""
    return [(generate_unit(files, headers), ddk) for files, headers, ddk in UNITS]


def ddk_include_dir() -> str | None:
    """mingw-w64's ``ddk`` header directory (holds ntifs.h), found from the compiler's search list."""
    result = subprocess.run([COMPILER, "-x", "c", "-E", "-v", "-"], input="", capture_output=True,
                            text=True)
    for line in result.stderr.splitlines():
        candidate = os.path.join(line.strip(), "ddk")
        if line.startswith(" ") and os.path.isfile(os.path.join(candidate, "ntifs.h")):
            return candidate
    return None


def compile_checks(source: str, ddk: bool = False) -> subprocess.CompletedProcess:
    """Compile ``source`` with mingw-w64; the result carries the compiler's messages."""
    extra = []
    if ddk:
        include = ddk_include_dir()
        if include is None:
            return subprocess.CompletedProcess([COMPILER], 1, "", "mingw-w64 ddk/ntifs.h not found")
        extra = ["-I", include]
    return subprocess.run([COMPILER, "-std=gnu11", "-fsyntax-only", "-Werror", "-Wall",
                           "-Wno-unused-variable", "-Wno-unused-const-variable", *extra,
                           "-x", "c", "-"],
                          input=source, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    """Generate, compile, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print the generated C")
    args = parser.parse_args(argv)
    units = generate_all()
    if args.print:
        print("\n".join(source for source, _ in units))
    if shutil.which(COMPILER) is None:
        print(f"{COMPILER} is not installed (Debian: apt-get install mingw-w64)", file=sys.stderr)
        return 2
    checks = 0
    for source, ddk in units:
        result = compile_checks(source, ddk)
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return 1
        checks += source.count("_Static_assert") + source.count("static ")
    print(f"{checks} Win32 declarations match mingw-w64's headers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
