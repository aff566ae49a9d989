"""The project-quota path of the Linux disk limit.

This kernel has no CONFIG_QUOTA, so the quota calls cannot succeed for real
here.  Two kinds of test, labelled in their names:

* ``test_fake_binding_*``: :mod:`quota` and :mod:`disk_api` run against a
  fake ``disk_api.lib`` (tier 0) that records every ``quotactl`` / ``ioctl``
  with the exact command number and struct fields passed, decoded here from
  the numbers of quotactl(2) and <linux/fs.h> -- not from the code under
  test -- and answers as a kernel with project quotas would.
* real calls: ``supported()`` is false here because quotactl answers
  ``ENOSYS`` (handled, not raised), and ``FS_IOC_FSGETXATTR`` /
  ``FS_IOC_FSSETXATTR`` work on a real ext4 file, checked with ``lsattr``.
"""

from __future__ import annotations

import errno
import os
import subprocess

import pytest
from _support import need_root
from test_loopfs import Place

from ironframe_py import AccessDenied, OSCallError

# Values fixed by the kernel ABI (quotactl(2), <linux/quota.h>, <linux/fs.h>).
Q_GETINFO, Q_GETQUOTA, Q_SETQUOTA = 0x800005, 0x800007, 0x800008
PRJQUOTA = 2
QIF_BLIMITS = 1
FS_XFLAG_PROJINHERIT = 0x200
FS_XFLAG_NOATIME = 0x40
SUBCMDSHIFT = 8
HAS_QUOTA_KERNEL = os.path.isdir("/proc/sys/fs/quota")  # only with CONFIG_QUOTA
DQBLK_FIELDS = ("bhardlimit", "bsoftlimit", "curspace", "ihardlimit", "isoftlimit", "curinodes",
                "btime", "itime", "valid")


def _decode(cmd: int) -> tuple[int, int]:
    """(sub-command, quota type) of a QCMD value, as the kernel splits it."""
    return (cmd & 0xFFFFFFFF) >> SUBCMDSHIFT, cmd & 0xFF


class FakeDiskLib:
    """Fake tier-0 ``lib`` for disk_api (fake_binding): records calls, answers like a quota kernel.

    ``fail`` makes every quotactl/ioctl fail with that errno.  Constants and
    the QCMD helper come from the real module.
    """

    def __init__(self, *, fail: int | None = None, xattr: dict | None = None,
                 dqblk: dict | None = None) -> None:
        from ironframe_py.backends.linux._native import ffi, lib

        self.ffi, self.real = ffi, lib
        self.fail, self.calls = fail, []
        self.xattr = {"xflags": 0, "extsize": 0, "nextents": 0, "projid": 0, "cowextsize": 0,
                      **(xattr or {})}
        self.dqblk = dqblk or {}

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def _failed(self) -> bool:
        if self.fail is None:
            return False
        self.ffi.errno = self.fail
        return True

    def quotactl(self, cmd, special, qid, addr):
        command, qtype = _decode(cmd)
        call = {"call": "quotactl", "cmd": cmd, "command": command, "type": qtype,
                "special": special, "id": qid}
        self.calls.append(call)
        if self._failed():
            return -1
        if command in (Q_SETQUOTA, Q_GETQUOTA):
            block = self.ffi.cast("struct if_dqblk *", addr)
            if command == Q_SETQUOTA:
                call["dqblk"] = {name: getattr(block, f"dqb_{name}") for name in DQBLK_FIELDS}
            for name, value in self.dqblk.items():
                setattr(block, f"dqb_{name}", value)
        return 0

    def ioctl(self, fd, request, *args):
        call = {"call": "ioctl", "request": request, "path": os.readlink(f"/proc/self/fd/{fd}")}
        self.calls.append(call)
        if self._failed():
            return -1
        attr = args[0]
        if request == self.real.FS_IOC_FSGETXATTR:
            for name, value in self.xattr.items():
                setattr(attr, f"fsx_{name}", value)
        elif request == self.real.FS_IOC_FSSETXATTR:
            call["fsxattr"] = {name: getattr(attr, f"fsx_{name}") for name in self.xattr}
        return 0


@pytest.fixture
def fake(monkeypatch):
    """Install a FakeDiskLib as disk_api.lib; the test may replace it with another."""
    from ironframe_py.backends.linux import disk_api

    def install(**kwargs) -> FakeDiskLib:
        lib = FakeDiskLib(**kwargs)
        monkeypatch.setattr(disk_api, "lib", lib)
        return lib

    return install


# --- the binding itself -------------------------------------------------------------------------

def test_binding_constants_and_layouts_match_the_kernel_abi():
    from ironframe_py.backends.linux._native import ffi, lib

    assert (lib.Q_GETINFO, lib.Q_GETQUOTA, lib.Q_SETQUOTA) == (Q_GETINFO, Q_GETQUOTA, Q_SETQUOTA)
    assert (lib.PRJQUOTA, lib.QIF_BLIMITS, lib.FS_XFLAG_PROJINHERIT) == (
        PRJQUOTA, QIF_BLIMITS, FS_XFLAG_PROJINHERIT)
    assert (ffi.sizeof("struct if_dqblk"), ffi.sizeof("struct if_dqinfo"),
            ffi.sizeof("struct fsxattr")) == (72, 24, 28)
    assert ffi.offsetof("struct fsxattr", "fsx_projid") == 12
    assert _decode(lib.ifd_qcmd(Q_SETQUOTA, PRJQUOTA)) == (Q_SETQUOTA, PRJQUOTA)


# --- fake binding: exact commands and structs ---------------------------------------------------

@pytest.mark.fake_binding
def test_fake_binding_set_limit_sends_q_setquota_prjquota_in_kib_blocks(fake):
    from ironframe_py.backends.linux import quota

    lib = fake()
    quota.set_limit("/dev/sdz1", 2_000_123, 10 * 1024 + 1)
    (call,) = lib.calls
    assert call["cmd"] == -2147481598  # QCMD(Q_SETQUOTA, PRJQUOTA) = 0x80000802 as a C int
    assert (call["command"], call["type"], call["special"], call["id"]) == (
        Q_SETQUOTA, PRJQUOTA, b"/dev/sdz1", 2_000_123)
    assert call["dqblk"] == {"bhardlimit": 11, "bsoftlimit": 0, "curspace": 0, "ihardlimit": 0,
                             "isoftlimit": 0, "curinodes": 0, "btime": 0, "itime": 0,
                             "valid": QIF_BLIMITS}


@pytest.mark.fake_binding
def test_fake_binding_get_usage_reads_bytes_used_and_the_kib_limit(fake):
    from ironframe_py.backends.linux import quota

    lib = fake(dqblk={"curspace": 123_456, "bhardlimit": 2048})
    assert quota.get_usage("/dev/sdz1", 7) == (123_456, 2048 * 1024)
    assert (lib.calls[0]["command"], lib.calls[0]["type"], lib.calls[0]["id"]) == (
        Q_GETQUOTA, PRJQUOTA, 7)
    fake(dqblk={"curspace": 5, "bhardlimit": 0})
    assert quota.get_usage("/dev/sdz1", 7) == (5, None)


@pytest.mark.fake_binding
def test_fake_binding_set_project_keeps_other_flags_and_adds_projinherit(fake, tmp_path):
    from ironframe_py.backends.linux import quota

    lib = fake(xattr={"xflags": FS_XFLAG_NOATIME, "extsize": 4096})
    quota.set_project(str(tmp_path), 2_000_123)
    get, put = lib.calls
    assert get["request"] == lib.real.FS_IOC_FSGETXATTR and put["request"] == lib.real.FS_IOC_FSSETXATTR
    assert get["path"] == put["path"] == str(tmp_path)
    assert put["fsxattr"] == {"xflags": FS_XFLAG_NOATIME | FS_XFLAG_PROJINHERIT, "extsize": 4096,
                              "nextents": 0, "projid": 2_000_123, "cowextsize": 0}


@pytest.mark.fake_binding
def test_fake_binding_clear_zeroes_the_limits_and_tolerates_a_gone_quota(fake):
    from ironframe_py.backends.linux import quota

    lib = fake()
    quota.clear("/dev/sdz1", 9)
    assert lib.calls[0]["command"] == Q_SETQUOTA and lib.calls[0]["id"] == 9
    assert lib.calls[0]["dqblk"]["valid"] == QIF_BLIMITS
    assert lib.calls[0]["dqblk"]["bhardlimit"] == lib.calls[0]["dqblk"]["bsoftlimit"] == 0
    for gone in (errno.ENOENT, errno.ESRCH, errno.ENOSYS):
        fake(fail=gone)
        quota.clear("/dev/sdz1", 9)


@pytest.mark.fake_binding
def test_fake_binding_errors_are_typed_with_call_and_target(fake, tmp_path):
    from ironframe_py.backends.linux import quota

    fake(fail=errno.EPERM)
    with pytest.raises(AccessDenied) as info:
        quota.set_limit("/dev/sdz1", 5, 1 << 20)
    assert info.value.function == "quotactl(Q_SETQUOTA)" and info.value.target == "/dev/sdz1 id 5"
    fake(fail=errno.EOPNOTSUPP)
    with pytest.raises(OSCallError) as info:
        quota.set_project(str(tmp_path), 5)
    assert info.value.function == "ioctl(FS_IOC_FSGETXATTR)" and info.value.errno == errno.EOPNOTSUPP


@pytest.mark.fake_binding
def test_fake_binding_supported_asks_q_getinfo_on_the_block_device(fake, tmp_path):
    from ironframe_py.backends.linux import quota

    lib = fake()
    assert quota.supported(str(tmp_path)) is True
    (call,) = lib.calls
    assert call["cmd"] == -2147482366  # QCMD(Q_GETINFO, PRJQUOTA) = 0x80000502
    assert call["special"] == os.fsencode(quota.device_of(str(tmp_path)))
    for unsupported in (errno.ENOSYS, errno.ESRCH, errno.EINVAL, errno.ENOTBLK):
        fake(fail=unsupported)
        assert quota.supported(str(tmp_path)) is False
    fake(fail=errno.EIO)  # a real failure is not "unsupported"
    with pytest.raises(OSCallError):
        quota.supported(str(tmp_path))


# --- real calls on this kernel --------------------------------------------------------------------

def test_supported_is_false_here_and_the_kernel_says_why():
    """quotactl answers ENOSYS without CONFIG_QUOTA; supported() turns that into False."""
    from ironframe_py.backends.linux._native import lib

    from ironframe_py.backends.linux import disk_api, quota

    try:
        disk_api.quotactl_getinfo(quota.device_of("/tmp"), lib.PRJQUOTA)
        works = True
    except OSError as err:
        works = False
        if not HAS_QUOTA_KERNEL:
            assert err.errno == errno.ENOSYS and err.function == "quotactl(Q_GETINFO)"
    assert quota.supported("/tmp") is works


def _lsattr_project(path: str) -> tuple[str, bool]:
    """``(project id, FS_PROJINHERIT_FL set)`` of ``path`` as ``lsattr -p`` shows them."""
    shown = subprocess.run(["lsattr", "-p", "-d", path], capture_output=True, text=True,
                           check=True).stdout.split()
    return shown[0], "P" in shown[1]  # "P" is lsattr's letter for FS_PROJINHERIT_FL


def test_fsxattr_calls_work_on_a_real_ext4_file(request):
    """FS_IOC_FSGETXATTR/FSSETXATTR need no quota support: the struct and requests are right."""
    need_root()
    from ironframe_py.backends.linux import loopfs, quota

    image, mountpoint = Place(request).pair("xattr")
    loopfs.create(image, mountpoint, 8 << 20, 0, 0)
    folder = os.path.join(mountpoint, "d")
    os.mkdir(folder)
    assert _lsattr_project(folder) == ("0", False)
    quota.set_project(folder, 0)  # project 0 is allowed without the ext4 "project" feature
    assert _lsattr_project(folder) == ("0", True)
    with pytest.raises(OSCallError) as info:  # a real project id needs "mkfs -O project"
        quota.set_project(folder, 2_000_123)
    assert info.value.errno == errno.EOPNOTSUPP
    assert info.value.function == "ioctl(FS_IOC_FSSETXATTR)" and info.value.target == folder
