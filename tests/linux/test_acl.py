"""POSIX ACLs through libacl, for real, as root.

The oracles are independent of our code: ``getfacl -n`` for what the ACL
says, and a process started as another uid (with :func:`launch.spawn`)
for what the kernel actually lets that identity do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from _support import need, need_root

from ironframe_py import SpecError

OWNER = 1_899_101    # owns the directory, as a container uid would
ADMIN_GID = 1_899_150  # the group that is granted access
MEMBER = 1_899_102   # a uid whose primary group is ADMIN_GID
STRANGER = 1_899_103  # a uid in no relevant group


@pytest.fixture
def acl():
    need_root()
    need(shutil.which("getfacl") is not None, "getfacl (the acl package) is not installed")
    from ironframe_py.backends.linux import acl as module

    return module


@pytest.fixture
def private_dir(request):
    """A 0700 directory owned by OWNER, like a container directory, with a file in it."""
    top = tempfile.mkdtemp(prefix="ironframe-acl-", dir="/tmp")
    request.addfinalizer(lambda: shutil.rmtree(top))
    os.chmod(top, 0o711)  # others may traverse /tmp/ironframe-acl-*, not the dir below
    path = os.path.join(top, "container")
    os.mkdir(path, 0o700)
    os.chown(path, OWNER, OWNER)
    _write_file(os.path.join(path, "before"), OWNER)
    return path


def _write_file(path: str, uid: int, mode: int = 0o640) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.write(fd, b"secret\n")
    os.close(fd)
    os.chown(path, uid, uid)


def _getfacl(path: str, default: bool = False) -> list[str]:
    args = ["getfacl", "-n", "-p", "-E"] + (["-d"] if default else []) + [path]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    # Without -d getfacl prints the default ACL too, as "default:" lines.
    return [line for line in out.splitlines()
            if line and not line.startswith(("#", "default:"))]


def _succeeds(uid: int, gid: int, argv: list[str]) -> bool:
    """Whether ``argv`` exits 0 when run as uid/gid with no supplementary groups."""
    from ironframe_py.backends.linux import launch

    with open(os.devnull, "r+b") as null:
        fd = null.fileno()
        proc = launch.spawn(argv[0], argv, {}, "/", uid, gid, [], (fd, fd, fd))
    try:
        return proc.wait(10) == 0
    finally:
        proc.close()


def _can_read(uid: int, gid: int, path: str) -> bool:
    """Whether a process running as uid/gid can read the file ``path``."""
    return _succeeds(uid, gid, ["/bin/cat", path])


def _can_list(uid: int, gid: int, path: str) -> bool:
    """Whether a process running as uid/gid can list the directory ``path``."""
    return _succeeds(uid, gid, ["/bin/ls", path])


def test_grant_group_gives_access_and_a_default_entry(acl, private_dir):
    assert not _can_list(MEMBER, ADMIN_GID, private_dir)
    acl.grant_group(private_dir, ADMIN_GID, "rwx", default=True)
    assert f"group:{ADMIN_GID}:rwx" in _getfacl(private_dir)
    assert "mask::rwx" in _getfacl(private_dir)
    assert f"group:{ADMIN_GID}:rwx" in _getfacl(private_dir, default=True)
    assert _can_list(MEMBER, ADMIN_GID, private_dir)  # the kernel agrees
    assert not _can_list(STRANGER, STRANGER, private_dir)


def test_new_files_inherit_the_default_entry(acl, private_dir):
    acl.grant_group(private_dir, ADMIN_GID, "rx", default=True)
    created = os.path.join(private_dir, "after")
    _write_file(created, OWNER, 0o640)
    lines = _getfacl(created)
    assert f"group:{ADMIN_GID}:r-x" in lines
    assert "other::---" in lines
    assert _can_read(MEMBER, ADMIN_GID, created)
    assert not _can_read(STRANGER, STRANGER, created)


def test_grant_replaces_an_existing_entry(acl, private_dir):
    acl.grant_group(private_dir, ADMIN_GID, "rwx")
    acl.grant_group(private_dir, ADMIN_GID, "r-x")
    entries = [line for line in _getfacl(private_dir) if line.startswith(f"group:{ADMIN_GID}:")]
    assert entries == [f"group:{ADMIN_GID}:r-x"]
    assert "mask::r-x" in _getfacl(private_dir)


def test_grant_on_a_file_has_no_default_and_works(acl, private_dir):
    path = os.path.join(private_dir, "before")
    acl.grant_group(private_dir, ADMIN_GID, "x", default=False)  # traverse only
    assert _getfacl(private_dir, default=True) == []
    assert not _can_read(MEMBER, ADMIN_GID, path)
    acl.grant_group(path, ADMIN_GID, "r")
    assert _can_read(MEMBER, ADMIN_GID, path)
    assert not _can_read(STRANGER, STRANGER, path)


def test_grant_keeps_other_named_entries(acl, private_dir):
    acl.grant_group(private_dir, ADMIN_GID + 1, "r-x")
    acl.grant_group(private_dir, ADMIN_GID, "rwx")
    lines = _getfacl(private_dir)
    assert f"group:{ADMIN_GID + 1}:r-x" in lines and f"group:{ADMIN_GID}:rwx" in lines
    assert f"group:{ADMIN_GID + 1}:r-x" in _getfacl(private_dir, default=True)


def test_bad_perms_and_missing_paths(acl, private_dir):
    from ironframe_py import NotFound

    with pytest.raises(SpecError):
        acl.grant_group(private_dir, ADMIN_GID, "rwq")
    with pytest.raises(NotFound) as info:
        acl.grant_group(os.path.join(private_dir, "missing"), ADMIN_GID)
    assert info.value.function == "acl_get_file"
    assert _getfacl(private_dir) == ["user::rwx", "group::---", "other::---"]  # untouched
