"""The error hierarchy: mapping of errno / Win32 codes, messages, pickling."""

from __future__ import annotations

import errno
import pickle

import pytest

from ironframe_py import (
    AccessDenied,
    AlreadyExists,
    CleanupError,
    ContainerNotFound,
    InvalidState,
    NotFound,
    OSCallError,
    QuotaExceeded,
    UnsupportedOnPlatform,
)
from ironframe_py.errors import from_oserror, os_error


@pytest.mark.parametrize("code, cls, builtin", [
    (errno.EACCES, AccessDenied, PermissionError), (errno.EPERM, AccessDenied, PermissionError),
    (errno.ENOENT, NotFound, FileNotFoundError), (errno.EEXIST, AlreadyExists, FileExistsError),
    (errno.EDQUOT, QuotaExceeded, OSError), (errno.EIO, OSCallError, OSError),
])
def test_errno_mapping(code, cls, builtin):
    err = os_error("mount", errno=code, target="/x")
    assert type(err) is cls and isinstance(err, builtin)
    assert err.errno == code and err.function == "mount" and err.target == "/x"
    assert "mount failed on '/x'" in str(err) and errno.errorcode[code] in str(err)


@pytest.mark.parametrize("code, cls", [
    (5, AccessDenied), (1314, AccessDenied), (2221, NotFound), (2, NotFound),
    (2224, AlreadyExists), (183, AlreadyExists), (1295, QuotaExceeded), (87, OSCallError),
])
def test_winerror_mapping(code, cls):
    err = os_error("NetUserAdd", winerror=code, target="c_ABC")
    assert type(err) is cls and err.winerror == code
    assert f"winerror {code}" in str(err)


def test_ntstatus_is_kept():
    err = os_error("NtSetQuotaInformationFile", winerror=1, ntstatus=-1073741637)
    assert err.ntstatus == -1073741637 and "0xC00000BB" in str(err)


def test_exactly_one_code_required():
    with pytest.raises(TypeError):
        os_error("f")
    with pytest.raises(TypeError):
        os_error("f", errno=1, winerror=1)


def test_from_builtin_oserror():
    err = from_oserror("open", FileNotFoundError(errno.ENOENT, "No such file", "/nope"))
    assert isinstance(err, NotFound) and err.target == "/nope"


@pytest.mark.parametrize("err", [
    os_error("rmdir", errno=errno.EBUSY, target="/sys/fs/cgroup/x"),
    os_error("NetUserDel", winerror=2221, target="c_1"),
    ContainerNotFound("abc"), InvalidState("stopped", "run a process"),
    UnsupportedOnPlatform("limit_disk", "no quotas"),
])
def test_errors_pickle_round_trip(err):
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is type(err) and str(again) == str(err)


def test_cleanup_error_is_an_exception_group():
    group = CleanupError("destroy x: 2 steps failed", [OSError("a"), ValueError("b")])
    with pytest.raises(CleanupError):
        raise group
    split = []
    try:
        raise group
    except* ValueError as caught:
        split.append(("value", caught))
    except* OSError as caught:
        split.append(("os", caught))
    assert sorted(kind for kind, _ in split) == ["os", "value"]
    assert all(isinstance(part, CleanupError) for _, part in split)


def test_processes_survived_is_one_type_for_every_path():
    import pickle

    from ironframe_py import IronframeError, ProcessesSurvived

    err = ProcessesSurvived("uid 1900000", [12, 13], 5.0)
    assert isinstance(err, IronframeError) and isinstance(err, TimeoutError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.target, again.pids, again.timeout) == ("uid 1900000", [12, 13], 5.0)
    assert "uid 1900000" in str(again) and "[12, 13]" in str(again)


def test_tool_failed_names_the_tool_status_and_target():
    import pickle

    from ironframe_py import ToolFailed

    err = pickle.loads(pickle.dumps(ToolFailed("mkfs.ext4", 1, "bad size\n", "/x.img")))
    assert str(err) == "mkfs.ext4 failed on /x.img (exit 1): bad size"


def test_nothing_in_the_package_raises_the_base_class_directly():
    import ast
    import pathlib

    package = pathlib.Path(__file__).resolve().parents[1] / "ironframe_py"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name == "IronframeError":
                    offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert offenders == []
