"""Project quotas on a container directory (ext4 ``prjquota``, XFS ``pquota``) (tier 2).

The directory gets a project id (the container's uid) with
``FS_XFLAG_PROJINHERIT`` through ``FS_IOC_FSSETXATTR``, and the project a
hard block limit through ``quotactl(Q_SETQUOTA, PRJQUOTA)``.  Kernels built
without ``CONFIG_QUOTA`` answer ``quotactl`` with ``ENOSYS``; then
:func:`supported` is false and the backend uses :mod:`.loopfs` instead.

The calls go through :data:`api` (the ``_native`` lib by default) so tests
can substitute a fake binding and check every argument.
"""

from __future__ import annotations

import errno
import os

from ...errors import os_error
from ._native import ffi, lib

api = lib
QUOTA_BLOCK = 1024  # if_dqblk block limits are in 1 KiB "QIF blocks"
_SUBCMD_SHIFT = 8
_UNSUPPORTED = (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.ESRCH, errno.ENOTBLK, errno.ENODEV)


def qcmd(command: int, kind: int) -> int:
    """The ``QCMD(cmd, type)`` macro of <sys/quota.h>, as the signed int quotactl takes."""
    value = ((command << _SUBCMD_SHIFT) | (kind & 0x00FF)) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def device_of(path: str) -> str:
    """The block device holding ``path`` (from /proc/self/mountinfo)."""
    st_dev = os.stat(path).st_dev
    wanted = f"{os.major(st_dev)}:{os.minor(st_dev)}"
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if fields[2] == wanted:
                return fields[fields.index("-") + 2]
    raise os_error("stat", errno=errno.ENODEV, target=path, strerror="no mount for this device")


def supported(path: str) -> bool:
    """True if project quotas are on for the filesystem holding ``path``."""
    try:
        device = device_of(path)
    except OSError:
        return False
    info = ffi.new("struct if_dqinfo *")
    if api.quotactl(qcmd(lib.Q_GETINFO, lib.PRJQUOTA), device.encode(), 0,
                    ffi.cast("char *", info)) == 0:
        return True
    if ffi.errno in _UNSUPPORTED:
        return False
    raise os_error("quotactl(Q_GETINFO)", errno=ffi.errno, target=device)


def get_project(path: str) -> tuple[int, int]:
    """``(project id, xflags)`` of ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        attr = ffi.new("struct fsxattr *")
        if api.ioctl(fd, lib.FS_IOC_FSGETXATTR, attr) < 0:
            raise os_error("ioctl(FS_IOC_FSGETXATTR)", errno=ffi.errno, target=path)
        return attr.fsx_projid, attr.fsx_xflags
    finally:
        os.close(fd)


def set_project(path: str, project: int) -> None:
    """Give ``path`` project id ``project``, inherited by everything created below it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        attr = ffi.new("struct fsxattr *")
        if api.ioctl(fd, lib.FS_IOC_FSGETXATTR, attr) < 0:
            raise os_error("ioctl(FS_IOC_FSGETXATTR)", errno=ffi.errno, target=path)
        attr.fsx_projid = project
        attr.fsx_xflags |= lib.FS_XFLAG_PROJINHERIT
        if api.ioctl(fd, lib.FS_IOC_FSSETXATTR, attr) < 0:
            raise os_error("ioctl(FS_IOC_FSSETXATTR)", errno=ffi.errno, target=path)
    finally:
        os.close(fd)


def set_limit(device: str, project: int, size: int) -> None:
    """Hard block limit of ``size`` bytes (rounded up to 1 KiB) for ``project``."""
    block = ffi.new("struct if_dqblk *")
    block.dqb_bhardlimit = block.dqb_bsoftlimit = -(-size // QUOTA_BLOCK)
    block.dqb_valid = lib.QIF_BLIMITS
    if api.quotactl(qcmd(lib.Q_SETQUOTA, lib.PRJQUOTA), device.encode(), project,
                    ffi.cast("char *", block)) < 0:
        raise os_error("quotactl(Q_SETQUOTA)", errno=ffi.errno, target=f"{device} project {project}")


def get_usage(device: str, project: int) -> tuple[int, int | None]:
    """``(bytes used, limit in bytes or None)`` of ``project``."""
    block = ffi.new("struct if_dqblk *")
    if api.quotactl(qcmd(lib.Q_GETQUOTA, lib.PRJQUOTA), device.encode(), project,
                    ffi.cast("char *", block)) < 0:
        raise os_error("quotactl(Q_GETQUOTA)", errno=ffi.errno, target=f"{device} project {project}")
    limit = block.dqb_bhardlimit * QUOTA_BLOCK or None
    return block.dqb_curspace, limit


def clear(device: str, project: int) -> None:
    """Remove the limit of ``project``; a quota that is already gone is fine."""
    block = ffi.new("struct if_dqblk *")
    block.dqb_valid = lib.QIF_BLIMITS
    if api.quotactl(qcmd(lib.Q_SETQUOTA, lib.PRJQUOTA), device.encode(), project,
                    ffi.cast("char *", block)) < 0 and ffi.errno not in (errno.ENOENT, errno.ESRCH):
        raise os_error("quotactl(Q_SETQUOTA)", errno=ffi.errno, target=f"{device} project {project}")
