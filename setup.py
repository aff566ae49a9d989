"""Build shim: the metadata and configuration are in pyproject.toml.

This file holds only what has to be computed at build time: the cffi modules
(a setup() keyword that pyproject.toml cannot carry), the package data of the
platform being built for, and the wheel's limited-API tag.
"""

import sys
import sysconfig

from setuptools import setup

WINDOWS = sys.platform == "win32"
LINUX = sys.platform.startswith("linux")

cffi_modules = []
if WINDOWS or LINUX:
    cffi_modules.append("ironframe_py/_guard/_guard_build.py:ffibuilder")
if LINUX:
    cffi_modules.append("ironframe_py/backends/linux/_ffi_build.py:ffibuilder")

# Files the package reads at run time: the cffi declarations (ABI mode and the build
# checks read them), the C sources the tests rebuild, the guard's DLL build files.
# Listed by name pattern, so a generated _core.c / _native.c never matches.
guard_data = ["guard_*.h", "guard_*.c", "proc_ids.h", "ifguard.def", "Makefile"]
if WINDOWS:
    # The mingw-built guard core, loaded when the MSVC build of _core (optional) failed.
    guard_data.append("ifguard.dll")
package_data = {
    "ironframe_py": ["py.typed"],
    "ironframe_py._guard": guard_data,
    "ironframe_py.backends.linux": ["_cdefs/*.h", "_csrc/*.h", "_csrc/*.c"],
    "ironframe_py.backends.windows": ["_cdefs/*.h"],
}

# cffi builds its extensions against the limited API (one binary for CPython 3.11 and
# later) except on a free-threaded CPython, which has no limited API before 3.15; tag
# the wheel to match, cp311-abi3-<platform>.
options = {}
if sys.implementation.name == "cpython" and not sysconfig.get_config_var("Py_GIL_DISABLED"):
    options["bdist_wheel"] = {"py_limited_api": "cp311"}

setup(cffi_modules=cffi_modules, package_data=package_data, options=options)
