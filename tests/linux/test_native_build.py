"""The Linux native module: declarations parse, it builds and imports, constants are right.

Constants are checked against Python's own ``os`` / ``errno`` / ``signal``
values where both exist, else against the values fixed by the Linux ABI.
"""

from __future__ import annotations

import errno
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import pytest
from _support import need

LINUX_DIR = pathlib.Path(__file__).resolve().parents[2] / "ironframe_py" / "backends" / "linux"
OUR_CDEFS = ("libc.h", "libacl.h", "spawn.h")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux bindings")


def _declared(kind: str) -> list[str]:
    """Constant (``kind="define"``) or function names declared in our cdef files."""
    names = []
    for name in OUR_CDEFS:
        text = re.sub(r"/\*.*?\*/", "", (LINUX_DIR / "_cdefs" / name).read_text(), flags=re.S)
        if kind == "define":
            names += re.findall(r"^#define (\w+) \.\.\.$", text, flags=re.M)
        else:
            names += re.findall(r"^[\w ]+?\**\s*\**(\w+)\(", text, flags=re.M)
    return names


def test_every_cdef_parses_and_our_files_use_api_mode_constants():
    from ironframe_py.backends.linux import _ffi_build

    builder = _ffi_build.make_builder()  # cffi parses the cdef: no compiler involved
    assert "ifl_spawn" in _ffi_build.cdef_text()
    assert builder.typeof("struct ifl_spawn_result *").item.kind == "struct"
    for name in OUR_CDEFS:
        for line in (LINUX_DIR / "_cdefs" / name).read_text().splitlines():
            if line.startswith("#define"):
                assert line.endswith(" ..."), f"{name}: {line!r} hard-codes a value"


def test_the_module_imports_and_has_every_declared_function():
    from ironframe_py.backends.linux._native import lib

    functions = _declared("function")
    assert {"ifl_spawn", "acl_get_file", "acl_set_file", "acl_calc_mask", "acl_valid"} <= set(functions)
    for name in functions:
        assert callable(getattr(lib, name)), name


def test_constants_match_python_and_the_linux_abi():
    from ironframe_py.backends.linux._native import lib

    python_side = {"O_WRONLY": os.O_WRONLY, "O_CLOEXEC": os.O_CLOEXEC, "ENOENT": errno.ENOENT,
                   "ESRCH": errno.ESRCH, "EINVAL": errno.EINVAL, "SIGCHLD": signal.SIGCHLD}
    for name, value in python_side.items():
        assert getattr(lib, name) == value, name
    abi = {"CLONE_VM": 0x100, "CLONE_VFORK": 0x4000, "PR_SET_NO_NEW_PRIVS": 38,
           "PR_GET_NO_NEW_PRIVS": 39, "PIDFD_SIGNAL_PROCESS_GROUP": 4,
           "ACL_READ": 4, "ACL_WRITE": 2, "ACL_EXECUTE": 1, "ACL_TYPE_ACCESS": 0x8000,
           "ACL_TYPE_DEFAULT": 0x4000, "ACL_USER_OBJ": 1, "ACL_USER": 2, "ACL_GROUP_OBJ": 4,
           "ACL_GROUP": 8, "ACL_MASK": 0x10, "ACL_OTHER": 0x20}
    for name, value in abi.items():
        assert getattr(lib, name) == value, name
        if hasattr(os, name):  # CLONE_* appear in os with Python 3.12
            assert getattr(os, name) == value
    assert set(python_side) | set(abi) <= set(_declared("define"))


def test_every_spawn_stage_has_a_distinct_name():
    from ironframe_py.backends.linux._native import lib

    from ironframe_py.backends.linux import _api

    stages = [name for name in _declared("define") if name.startswith("IFL_STAGE_")]
    values = [getattr(lib, name) for name in stages]
    assert len(set(values)) == len(values)
    assert sorted(_api.STAGES) == sorted(v for v in values if v != lib.IFL_STAGE_NONE)
    assert len(set(_api.STAGES.values())) == len(_api.STAGES)


def test_spawn_core_compiles_alone_without_warnings(tmp_path):
    compiler = shutil.which("gcc") or shutil.which("cc")
    need(compiler is not None, "no C compiler")
    # No Python headers and no cffi: the core stands on libc alone.
    result = subprocess.run(
        [compiler, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2", "-c",
         str(LINUX_DIR / "_csrc" / "spawn.c"), "-o", str(tmp_path / "spawn.o")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Python.h" not in (LINUX_DIR / "_csrc" / "spawn.c").read_text()


def test_the_whole_module_builds_from_scratch(tmp_path):
    need(shutil.which("gcc") is not None or shutil.which("cc") is not None, "no C compiler")
    need(os.path.exists("/usr/include/acl/libacl.h"), "libacl headers (libacl1-dev) are missing")
    from ironframe_py.backends.linux import _ffi_build

    # The extra sources are named relative to the build directory; a copy keeps objects out of the tree.
    shutil.copytree(LINUX_DIR / "_csrc", tmp_path / "ironframe_py/backends/linux/_csrc")
    built = _ffi_build.make_builder().compile(tmpdir=str(tmp_path))
    assert pathlib.Path(built).is_file() and built.endswith(".so")
