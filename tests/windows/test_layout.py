"""The Win32 declarations, checked on Linux: cffi's Win64 layout against mingw-w64's headers."""

from __future__ import annotations

import pathlib
import re
import shutil

from _support import load_tool, need

check_win_layout = load_tool("check_win_layout")

from ironframe_py.backends.windows._ffi import ffi  # noqa: E402


def _need_mingw() -> None:
    need(shutil.which(check_win_layout.COMPILER) is not None,
         "x86_64-w64-mingw32-gcc is not installed (apt-get install mingw-w64)")


def test_cffi_computes_the_win64_layout_on_linux():
    assert ffi.sizeof("HANDLE") == 8 and ffi.sizeof("DWORD") == 4 and ffi.sizeof("SIZE_T") == 8
    assert ffi.sizeof("JOBOBJECT_EXTENDED_LIMIT_INFORMATION") == 144
    assert ffi.offsetof("JOBOBJECT_EXTENDED_LIMIT_INFORMATION", "JobMemoryLimit") == 120
    assert ffi.sizeof("STARTUPINFOW") == 104


def test_every_declaration_matches_the_mingw_headers():
    _need_mingw()
    units = check_win_layout.generate_all()
    user, (ntdll, ddk) = units[0][0], units[1]
    assert user.count("_Static_assert") > 300 and ddk
    for name in ("CreateJobObjectW", "CreateProcessWithTokenW", "SetEntriesInAclW", "NetUserAdd",
                 "LoadUserProfileW", "DeleteProfileW"):
        assert f"check_{name})" in user, name
    assert "check_NtSetQuotaInformationFile)" in ntdll
    assert "sizeof(FILE_QUOTA_INFORMATION) == 56" in ntdll
    for source, needs_ddk in units:
        result = check_win_layout.compile_checks(source, needs_ddk)
        assert result.returncode == 0, result.stderr


def test_every_struct_the_issue_lists_is_declared_and_checked():
    _need_mingw()
    everything = "\n".join(source for source, _ in check_win_layout.generate_all())
    for name in ("JOBOBJECT_EXTENDED_LIMIT_INFORMATION", "JOBOBJECT_BASIC_LIMIT_INFORMATION",
                 "IO_COUNTERS", "JOBOBJECT_CPU_RATE_CONTROL_INFORMATION",
                 "JOBOBJECT_BASIC_ACCOUNTING_INFORMATION", "JOBOBJECT_BASIC_PROCESS_ID_LIST",
                 "JOBOBJECT_ASSOCIATE_COMPLETION_PORT", "PROCESS_MEMORY_COUNTERS_EX", "STARTUPINFOW",
                 "PROCESS_INFORMATION", "SECURITY_ATTRIBUTES", "USER_INFO_1",
                 "LOCALGROUP_MEMBERS_INFO_3", "EXPLICIT_ACCESS_W", "TRUSTEE_W", "PROFILEINFOW",
                 "FILE_QUOTA_INFORMATION"):
        assert f"sizeof({name}) == {ffi.sizeof(name)}" in everything, name


def test_a_wrong_declaration_fails_the_check():
    _need_mingw()
    source = check_win_layout.generate()
    wrong_size = source.replace("sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION) == 144",
                                "sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION) == 140")
    assert check_win_layout.compile_checks(wrong_size).returncode != 0
    wrong_prototype = re.sub(r"check_ResumeThread\)\(HANDLE hThread\)",
                             "check_ResumeThread)(HANDLE hThread, DWORD extra)", source)
    assert wrong_prototype != source
    assert check_win_layout.compile_checks(wrong_prototype).returncode != 0
    ntdll = check_win_layout.generate_all()[1][0]
    wrong_nt = ntdll.replace("BOOLEAN RestartScan", "ULONG RestartScan")
    assert wrong_nt != ntdll and check_win_layout.compile_checks(wrong_nt, True).returncode != 0
    wrong_constant = source.replace("(JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE) == (0x00002000)",
                                    "(JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE) == (0x00002001)")
    assert check_win_layout.compile_checks(wrong_constant).returncode != 0


# Newer than mingw-w64's winerror.h; the values are the Windows SDK's.
NOT_IN_MINGW = {"ERROR_DISK_QUOTA_EXCEEDED", "ERROR_QUOTA_LIST_INCONSISTENT"}


def test_error_codes_in_the_error_table_match_the_headers():
    _need_mingw()
    from ironframe_py import errors

    names = [name for name in dir(errors) if re.fullmatch(r"(ERROR|NERR)_\w+", name)]
    checked = [name for name in names if name not in NOT_IN_MINGW]
    source = "#include <windows.h>\n#include <lm.h>\n" + "\n".join(
        f'_Static_assert({name} == {getattr(errors, name)}, "{name}");' for name in checked)
    result = check_win_layout.compile_checks(source)
    assert len(checked) >= 8 and result.returncode == 0, result.stderr
    for name in NOT_IN_MINGW:  # still missing there? (else check it like the rest)
        probe = f"#include <windows.h>\nint x = {name};\n"
        assert check_win_layout.compile_checks(probe).returncode != 0, f"mingw now has {name}"


def test_generated_winerror_module_matches_the_generator():
    _need_mingw()
    gen_winerror = load_tool("gen_winerror")

    assert gen_winerror.TARGET.read_text() == gen_winerror.generate(), \
        "_winerror.py is stale or hand-edited: run tools/gen_winerror.py"


def test_error_table_reads_the_generated_codes():
    """errors.py holds no Win32 code of its own: every one it names is the generated table's."""
    import ast

    from ironframe_py import _winerror, errors

    tree = ast.parse(pathlib.Path(errors.__file__).read_text())
    assigned = [target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)
                and re.fullmatch(r"(ERROR|NERR|STATUS)_\w+", target.id)]
    assert assigned == [], f"errors.py defines {assigned}: import them from _winerror"
    for code, cls in ((_winerror.ERROR_ACCESS_DENIED, errors.AccessDenied),
                      (_winerror.NERR_UserExists, errors.AlreadyExists),
                      (_winerror.NERR_UserNotFound, errors.NotFound)):
        assert type(errors.os_error("F", winerror=code)) is cls
