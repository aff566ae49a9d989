"""Build shim: setuptools reads everything from setup.cfg; only the cffi
modules (a setup() keyword that setup.cfg cannot carry) are listed here."""

import sys

from setuptools import setup

cffi_modules = []
if sys.platform == "win32" or sys.platform.startswith("linux"):
    cffi_modules.append("ironframe_py/_guard/_guard_build.py:ffibuilder")
if sys.platform.startswith("linux"):
    cffi_modules.append("ironframe_py/backends/linux/_ffi_build.py:ffibuilder")

setup(cffi_modules=cffi_modules)
