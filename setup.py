"""Build shim: setuptools reads everything from setup.cfg; only the cffi
modules (a setup() keyword that setup.cfg cannot carry) are listed here."""

import sys

from setuptools import setup

cffi_modules = []
if sys.platform.startswith("linux"):
    # The Windows guard core (guard_win.c) is not written yet; on Windows the
    # backend's Python polling guard stands in and nothing needs compiling.
    cffi_modules += ["ironframe_py/_guard/_guard_build.py:ffibuilder",
                     "ironframe_py/backends/linux/_ffi_build.py:ffibuilder"]

setup(cffi_modules=cffi_modules)
