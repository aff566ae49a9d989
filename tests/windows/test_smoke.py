"""The Windows binding on Linux: it parses, opens no DLL, and its optional exports are declared."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import ironframe_py.backends.windows as windows_pkg
from ironframe_py import UnsupportedOnPlatform
from ironframe_py.backends.windows import _dll, _ffi

DLL_FILES = {"kernel32.dll": "kernel32.h", "advapi32.dll": "advapi32.h",
             "netapi32.dll": "netapi32.h", "userenv.dll": "userenv.h", "ntdll.dll": "ntdll.h"}


def test_importing_every_module_opens_no_dll():
    for module in pkgutil.walk_packages(windows_pkg.__path__, windows_pkg.__name__ + "."):
        importlib.import_module(module.name)
    assert _dll._loaded == {}


def test_opening_a_dll_off_windows_is_unsupported_not_a_crash():
    with pytest.raises(UnsupportedOnPlatform):
        _dll.dll("kernel32.dll")
    assert _dll.is_wine() is False


def test_every_optional_export_is_declared_in_its_dlls_cdef():
    for capability, (dll_name, exports) in _dll._OPTIONAL.items():
        text = (_ffi.CDEF_DIR / DLL_FILES[dll_name]).read_text()
        for export in exports:
            assert re.search(rf"\b{export}\(", text), (capability, export)


def test_constants_have_their_sdk_values():
    assert _ffi.C.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE == 0x2000
    assert _ffi.C.CREATE_SUSPENDED == 4 and _ffi.C.LOGON_WITH_PROFILE == 1
    assert _ffi.C.FILE_VC_QUOTA_ENFORCE == 2 and _ffi.C.PROTECTED_DACL_SECURITY_INFORMATION == 0x80000000


def test_status_messages_fall_back_to_symbolic_names_off_windows():
    assert _dll.message(2224) == "NERR_UserExists"
    assert _dll.message(5) == "ERROR_ACCESS_DENIED"
