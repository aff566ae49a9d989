"""Disk limits: the loop filesystem for real (root, loop devices) and the quota path.

The project-quota path cannot run here (the CI kernel has no CONFIG_QUOTA):
it is tested against a fake binding layer that records every call, labelled
``fake_binding`` -- plus the real facts that decide it is not used here.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile

import pytest
from _support import need_root

from ironframe_py import OSCallError, UnsupportedOnPlatform
from ironframe_py.backends.base import Resource

UID = 1_899_002


@pytest.fixture
def place():
    """A root-only image dir and a mount point, removed (with any mount) afterwards."""
    need_root()
    from ironframe_py.backends.linux import loopfs

    top = tempfile.mkdtemp(prefix="ironframe-disktest-", dir="/tmp")
    os.chmod(top, 0o711)  # the writer runs as UID and must reach the mount point
    image, mountpoint = os.path.join(top, "box.img"), os.path.join(top, "box")
    os.mkdir(mountpoint)
    yield loopfs, image, mountpoint
    loopfs.remove(image, mountpoint)
    shutil.rmtree(top)


def _losetup(image: str) -> str:
    return subprocess.run(["losetup", "-j", image], capture_output=True, text=True).stdout.strip()


def _write_as(uid: int, path: str, limit: int) -> tuple[int, int]:
    """Write up to 4x ``limit`` bytes as ``uid`` in a child; return (errno, bytes written)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        written, code = 0, 0
        try:
            with open(path, "wb", buffering=0) as file:
                while written < 4 * limit:
                    written += file.write(b"x" * 65536)
        except OSError as err:
            code = err.errno
        os.write(write_end, f"{code} {written}".encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        code, written = map(int, pipe.read().split())
    os.waitpid(pid, 0)
    return code, written


def test_loopfs_limits_writes_and_is_removed_completely(place):
    loopfs, image, mountpoint = place
    facts = loopfs.create(image, mountpoint, 16 << 20, UID, UID)
    with open("/proc/self/mountinfo") as mountinfo:
        assert any(line.split()[4] == mountpoint for line in mountinfo)
    assert os.stat(mountpoint).st_uid == UID and facts["device"] in _losetup(image)
    code, written = _write_as(UID, os.path.join(mountpoint, "fill"), 16 << 20)
    assert code == errno.ENOSPC and written <= 16 << 20
    loopfs.remove(image, mountpoint)
    assert loopfs.mount_source(mountpoint) is None
    assert _losetup(image) == "" and not os.path.exists(image) and os.path.isdir(mountpoint)
    loopfs.remove(image, mountpoint)  # idempotent


def test_remove_after_only_the_image_was_made(place):
    loopfs, image, mountpoint = place
    with open(image, "wb") as file:
        file.truncate(1 << 20)
    loopfs.remove(image, mountpoint)
    assert not os.path.exists(image)


def test_remove_after_attach_without_mount(place):
    loopfs, image, mountpoint = place
    with open(image, "wb") as file:
        file.truncate(8 << 20)
    device, fd = loopfs.attach(image)
    try:
        assert device in _losetup(image)
        loopfs.remove(image, mountpoint)  # the host "died" before mount(2)
        assert _losetup(image) == "" and not os.path.exists(image)
    finally:
        os.close(fd)


def test_remove_refuses_a_mount_that_is_not_ours(place):
    loopfs, image, mountpoint = place
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", mountpoint], check=True)
    try:
        with pytest.raises(OSCallError, match="not from this container's image"):
            loopfs.remove(image, mountpoint)
        assert loopfs.mount_source(mountpoint) == "tmpfs"
    finally:
        subprocess.run(["umount", mountpoint], check=True)


def test_two_filesystems_get_two_devices(place):
    loopfs, image, mountpoint = place
    other_image, other_mount = image + "2", mountpoint + "2"
    os.mkdir(other_mount)
    try:
        first = loopfs.create(image, mountpoint, 8 << 20, UID, UID)["device"]
        second = loopfs.create(other_image, other_mount, 8 << 20, UID, UID)["device"]
        assert first != second
    finally:
        loopfs.remove(other_image, other_mount)
        os.rmdir(other_mount)


def test_loopfs_cannot_change_size():
    from ironframe_py.backends.linux import disk

    resource = Resource("loopfs", "/x.img", {"mountpoint": "/x", "size": 1 << 20})
    with pytest.raises(UnsupportedOnPlatform) as info:
        disk.resize(resource, 2 << 20)
    assert info.value.feature == "limit_disk"


# --- the quota path ---------------------------------------------------------------------------

def test_no_quota_support_here_so_loopfs_is_chosen():
    """Real facts of this kernel: quotactl answers ENOSYS, so containers get a loopfs."""
    from ironframe_py.backends.linux import disk, quota

    if quota.supported("/tmp"):
        assert disk.choose_method("/tmp") == "quota"
    else:
        assert disk.choose_method("/tmp") == "loopfs"


def test_project_id_reads_back_on_a_real_ext4_file(place):
    """FS_IOC_FSGETXATTR works without quota support: the call and struct are right."""
    loopfs, image, mountpoint = place
    loopfs.create(image, mountpoint, 8 << 20, UID, UID)
    from ironframe_py.backends.linux import quota

    project, flags = quota.get_project(mountpoint)
    assert project == 0 and isinstance(flags, int)


class FakeQuotaApi:
    """Fake binding layer: records quotactl/ioctl calls and the structs passed (fake_binding)."""

    def __init__(self, fail_errno: int | None = None) -> None:
        from ironframe_py.backends.linux._native import ffi, lib

        self.ffi, self.lib, self.fail_errno, self.calls = ffi, lib, fail_errno, []

    def quotactl(self, cmd, special, qid, addr):
        block = self.ffi.cast("struct if_dqblk *", addr)
        self.calls.append(("quotactl", cmd, special, qid,
                           block.dqb_bhardlimit, block.dqb_valid))
        if self.fail_errno:
            self.ffi.errno = self.fail_errno
            return -1
        block.dqb_curspace = 12345
        return 0

    def ioctl(self, fd, request, attr):
        self.calls.append(("ioctl", request))
        if request == self.lib.FS_IOC_FSGETXATTR:
            attr.fsx_xflags = 0
        else:
            self.calls.append(("set", attr.fsx_projid, attr.fsx_xflags))
        return 0


@pytest.mark.fake_binding
def test_fake_binding_quota_set_limit_passes_exact_command_and_blocks(monkeypatch):
    from ironframe_py.backends.linux import quota

    fake = FakeQuotaApi()
    monkeypatch.setattr(quota, "api", fake)
    quota.set_limit("/dev/sdz1", 1_900_001, 10 * 1024 + 1)
    (name, cmd, special, qid, blocks, valid), = fake.calls
    assert cmd == quota.qcmd(fake.lib.Q_SETQUOTA, fake.lib.PRJQUOTA)
    assert (special, qid, blocks, valid) == (b"/dev/sdz1", 1_900_001, 11, fake.lib.QIF_BLIMITS)
    assert quota.get_usage("/dev/sdz1", 1_900_001)[0] == 12345


@pytest.mark.fake_binding
def test_fake_binding_set_project_sets_id_and_inherit_flag(monkeypatch, tmp_path):
    from ironframe_py.backends.linux import quota

    fake = FakeQuotaApi()
    monkeypatch.setattr(quota, "api", fake)
    quota.set_project(str(tmp_path), 1_900_007)
    assert ("set", 1_900_007, fake.lib.FS_XFLAG_PROJINHERIT) in fake.calls


@pytest.mark.fake_binding
def test_fake_binding_quota_errors_are_typed_and_clear_tolerates_missing(monkeypatch):
    from ironframe_py.backends.linux import quota

    monkeypatch.setattr(quota, "api", FakeQuotaApi(fail_errno=errno.EPERM))
    with pytest.raises(PermissionError) as info:
        quota.set_limit("/dev/sdz1", 5, 1 << 20)
    assert info.value.function == "quotactl(Q_SETQUOTA)"
    monkeypatch.setattr(quota, "api", FakeQuotaApi(fail_errno=errno.ESRCH))
    quota.clear("/dev/sdz1", 5)


def test_qcmd_matches_the_c_macro():
    from ironframe_py.backends.linux._native import lib

    from ironframe_py.backends.linux import quota

    assert quota.qcmd(lib.Q_GETINFO, lib.PRJQUOTA) == ((0x800005 << 8) | 2) - (1 << 32)
