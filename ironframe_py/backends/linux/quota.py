"""Project quotas on a container directory (ext4 ``prjquota``, XFS ``pquota``) (tier 2).

The directory gets a project id -- the caller passes the container's uid --
and ``FS_XFLAG_PROJINHERIT`` through ``FS_IOC_FSSETXATTR``, so everything
created below it is charged to that project; the project gets a hard block
limit through ``quotactl(Q_SETQUOTA, PRJQUOTA)``.

Kernels built without ``CONFIG_QUOTA`` answer ``quotactl`` with ``ENOSYS``,
and a filesystem mounted without project quotas with ``ESRCH``; then
:func:`supported` is false and the disk limit uses :mod:`.loopfs` instead.

All OS calls go through :mod:`.disk_api` (tier 1); the tests run this module
against a fake ``disk_api.lib`` that records the exact commands and structs.
"""

from __future__ import annotations

import errno
import os

from ...errors import os_error
from . import disk_api, mountinfo
from ._native import lib

__all__ = ["supported", "device_of", "set_project", "set_limit", "get_usage",
           "clear", "blocks_for", "QUOTA_BLOCK"]

QUOTA_BLOCK = 1024  # if_dqblk block limits count 1024-byte "QIF blocks" (dqb_curspace is in bytes)

# quotactl errors that mean "no project quotas here", not "something broke":
# ENOSYS no CONFIG_QUOTA; ESRCH quotas off for the type; EINVAL/ENOTSUP/ENOTTY
# the filesystem has none; ENOTBLK/ENODEV/ENOENT no block device behind the path.
_UNSUPPORTED = frozenset({errno.ENOSYS, errno.ESRCH, errno.EINVAL, errno.ENOTSUP, errno.ENOTTY,
                          errno.ENOTBLK, errno.ENODEV, errno.ENOENT})
# clear(): the limit is gone already, or can no longer exist.
_GONE = frozenset({errno.ENOENT, errno.ESRCH, errno.ENOSYS})


def blocks_for(size: int) -> int:
    """QIF blocks for a limit of ``size`` bytes, rounded up (the limit is never below ``size``)."""
    return -(-size // QUOTA_BLOCK)


def device_of(path: str) -> str:
    """The mount source (block device) of the filesystem holding ``path``, from mountinfo."""
    st_dev = os.stat(path).st_dev
    wanted = f"{os.major(st_dev)}:{os.minor(st_dev)}"
    sources = [mount.source for mount in mountinfo.read() if mount.device == wanted]
    if not sources:
        raise os_error("stat", errno=errno.ENODEV, target=path, strerror="no mount of this device")
    return sources[-1]


def supported(path: str) -> bool:
    """True if project quotas are on for the filesystem holding ``path`` (``Q_GETINFO``)."""
    try:
        device = device_of(path)
    except OSError:
        return False
    try:
        disk_api.quotactl_getinfo(device, lib.PRJQUOTA)
    except OSError as err:
        if err.errno in _UNSUPPORTED:
            return False
        raise
    return True


def set_project(path: str, projid: int) -> None:
    """Charge ``path`` and everything later created below it to project ``projid``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        attr = disk_api.fs_ioc_fsgetxattr(fd, path)
        changed = disk_api.FsXattr(attr.xflags | lib.FS_XFLAG_PROJINHERIT, attr.extsize,
                                   attr.nextents, projid, attr.cowextsize)
        disk_api.fs_ioc_fssetxattr(fd, changed, path)
    finally:
        os.close(fd)


def set_limit(device: str, projid: int, size: int) -> None:
    """Hard block limit of ``size`` bytes (rounded up to whole KiB) for project ``projid``."""
    limits = disk_api.DqBlk(bhardlimit=blocks_for(size), bsoftlimit=0, valid=lib.QIF_BLIMITS)
    disk_api.quotactl_setquota(device, lib.PRJQUOTA, projid, limits)


def get_usage(device: str, projid: int) -> tuple[int, int | None]:
    """``(bytes used, hard limit in bytes or None)`` of project ``projid``."""
    current = disk_api.quotactl_getquota(device, lib.PRJQUOTA, projid)
    return current.curspace, current.bhardlimit * QUOTA_BLOCK or None


def clear(device: str, projid: int) -> None:
    """Remove the block limits of ``projid``; a limit that is gone already is fine."""
    try:
        disk_api.quotactl_setquota(device, lib.PRJQUOTA, projid, disk_api.DqBlk(valid=lib.QIF_BLIMITS))
    except OSError as err:
        if err.errno not in _GONE:
            raise
