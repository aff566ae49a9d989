"""Checked calls for disk limits: mount(2), loop-device ioctls, quotactl(2), fsxattr (tier 1).

Private, not for direct use.  One function per OS call: encode the
arguments, call through the cffi API-mode module, read ``ffi.errno``
straight after the call and, on failure, raise
:func:`ironframe_py.errors.os_error` naming the call and its target.  No
policy, retries or defaults live here; values come back as plain Python
numbers and frozen dataclasses, never as cffi objects.

The loop ioctls go through cffi rather than ``fcntl.ioctl`` with a
``struct``-packed buffer: API mode checks ``struct loop_config`` and
``struct loop_info64`` against <linux/loop.h> at build time, where a packed
format string would hard-code the layout.

Tests replace the module global :data:`lib` with a fake that records every
call (see ``tests/test_linux_quota.py``), so each wrapper looks ``lib`` up
at call time.
"""

from __future__ import annotations

import dataclasses
import os

from ...errors import os_error
from ._native import ffi, lib

__all__ = [
    "LoopInfo", "DqBlk", "DqInfo", "FsXattr",
    "mount", "umount2",
    "loop_ctl_get_free", "loop_configure", "loop_set_fd", "loop_get_status64",
    "loop_set_status64", "loop_clr_fd",
    "qcmd", "quotactl_getinfo", "quotactl_getquota", "quotactl_setquota",
    "fs_ioc_fsgetxattr", "fs_ioc_fssetxattr",
]


def _check(result: int, function: str, target: str | None) -> int:
    if result < 0:
        raise os_error(function, errno=ffi.errno, target=target)
    return result


def _ulong(value: int):
    return ffi.cast("unsigned long", value)


# --- mount(2) ---------------------------------------------------------------------------------

def mount(source: str, target: str, fstype: str, flags: int, data: str | None = None) -> None:
    """mount(2): https://man7.org/linux/man-pages/man2/mount.2.html"""
    options = ffi.NULL if data is None else os.fsencode(data)
    _check(lib.mount(os.fsencode(source), os.fsencode(target), os.fsencode(fstype), flags, options),
           "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2): https://man7.org/linux/man-pages/man2/umount.2.html"""
    name = "umount2(MNT_DETACH)" if flags & lib.MNT_DETACH else "umount2"
    _check(lib.umount2(os.fsencode(target), flags), name, target)


# --- loop devices -------------------------------------------------------------------------------
# https://man7.org/linux/man-pages/man4/loop.4.html

@dataclasses.dataclass(frozen=True)
class LoopInfo:
    """The settable part of ``struct loop_info64`` (what LOOP_SET_STATUS64 honours)."""

    offset: int = 0
    sizelimit: int = 0
    flags: int = 0
    file_name: bytes = b""


def _fill_info(info, value: LoopInfo) -> None:
    info.lo_offset = value.offset
    info.lo_sizelimit = value.sizelimit
    info.lo_flags = value.flags
    name = value.file_name[: lib.LO_NAME_SIZE - 1]  # keep the terminating NUL
    ffi.memmove(info.lo_file_name, name, len(name))


def loop_ctl_get_free(control_fd: int) -> int:
    """ioctl(LOOP_CTL_GET_FREE) on /dev/loop-control: number of a free (maybe new) device."""
    return _check(lib.ioctl(control_fd, lib.LOOP_CTL_GET_FREE), "ioctl(LOOP_CTL_GET_FREE)",
                  "/dev/loop-control")


def loop_configure(fd: int, backing_fd: int, info: LoopInfo, target: str) -> None:
    """ioctl(LOOP_CONFIGURE) (Linux 5.8+): bind ``backing_fd`` and set the status in one call."""
    config = ffi.new("struct loop_config *")
    config.fd = backing_fd
    _fill_info(config.info, info)
    _check(lib.ioctl(fd, lib.LOOP_CONFIGURE, config), "ioctl(LOOP_CONFIGURE)", target)


def loop_set_fd(fd: int, backing_fd: int, target: str) -> None:
    """ioctl(LOOP_SET_FD): bind ``backing_fd`` to the loop device open as ``fd``."""
    _check(lib.ioctl(fd, lib.LOOP_SET_FD, _ulong(backing_fd)), "ioctl(LOOP_SET_FD)", target)


def loop_get_status64(fd: int, target: str) -> LoopInfo:
    """ioctl(LOOP_GET_STATUS64): the device's offset, size limit, flags and file name."""
    info = ffi.new("struct loop_info64 *")
    _check(lib.ioctl(fd, lib.LOOP_GET_STATUS64, info), "ioctl(LOOP_GET_STATUS64)", target)
    return LoopInfo(info.lo_offset, info.lo_sizelimit, info.lo_flags,
                    ffi.string(ffi.cast("char *", info.lo_file_name), lib.LO_NAME_SIZE))


def loop_set_status64(fd: int, info: LoopInfo, target: str) -> None:
    """ioctl(LOOP_SET_STATUS64); fields outside :class:`LoopInfo` are sent as zero."""
    raw = ffi.new("struct loop_info64 *")
    _fill_info(raw, info)
    _check(lib.ioctl(fd, lib.LOOP_SET_STATUS64, raw), "ioctl(LOOP_SET_STATUS64)", target)


def loop_clr_fd(fd: int, target: str) -> None:
    """ioctl(LOOP_CLR_FD): unbind the device (deferred by the kernel while it is open elsewhere)."""
    _check(lib.ioctl(fd, lib.LOOP_CLR_FD, _ulong(0)), "ioctl(LOOP_CLR_FD)", target)


# --- quotactl(2) ---------------------------------------------------------------------------------
# https://man7.org/linux/man-pages/man2/quotactl.2.html

@dataclasses.dataclass(frozen=True)
class DqBlk:
    """``struct if_dqblk``: block limits in 1024-byte QIF blocks, ``curspace`` in bytes."""

    bhardlimit: int = 0
    bsoftlimit: int = 0
    curspace: int = 0
    ihardlimit: int = 0
    isoftlimit: int = 0
    curinodes: int = 0
    btime: int = 0
    itime: int = 0
    valid: int = 0


@dataclasses.dataclass(frozen=True)
class DqInfo:
    """``struct if_dqinfo``: grace times (seconds) and flags."""

    bgrace: int
    igrace: int
    flags: int
    valid: int


_DQBLK_FIELDS = [field.name for field in dataclasses.fields(DqBlk)]


def qcmd(command: int, quota_type: int) -> int:
    """``QCMD(command, type)`` of <sys/quota.h>, computed by the C macro itself."""
    return lib.ifd_qcmd(command, quota_type)


def _quotactl(command: int, name: str, special: str, quota_type: int, qid: int, addr) -> None:
    result = lib.quotactl(qcmd(command, quota_type), os.fsencode(special), qid,
                          ffi.cast("char *", addr))
    _check(result, f"quotactl({name})", f"{special} id {qid}")


def quotactl_getinfo(special: str, quota_type: int) -> DqInfo:
    """quotactl(Q_GETINFO): grace times and flags of ``quota_type`` on the device ``special``."""
    info = ffi.new("struct if_dqinfo *")
    _quotactl(lib.Q_GETINFO, "Q_GETINFO", special, quota_type, 0, info)
    return DqInfo(info.dqi_bgrace, info.dqi_igrace, info.dqi_flags, info.dqi_valid)


def quotactl_getquota(special: str, quota_type: int, qid: int) -> DqBlk:
    """quotactl(Q_GETQUOTA): limits and usage of id ``qid``."""
    block = ffi.new("struct if_dqblk *")
    _quotactl(lib.Q_GETQUOTA, "Q_GETQUOTA", special, quota_type, qid, block)
    return DqBlk(*(getattr(block, f"dqb_{name}") for name in _DQBLK_FIELDS))


def quotactl_setquota(special: str, quota_type: int, qid: int, value: DqBlk) -> None:
    """quotactl(Q_SETQUOTA): set the fields of id ``qid`` that ``value.valid`` names."""
    block = ffi.new("struct if_dqblk *")
    for name in _DQBLK_FIELDS:
        setattr(block, f"dqb_{name}", getattr(value, name))
    _quotactl(lib.Q_SETQUOTA, "Q_SETQUOTA", special, quota_type, qid, block)


# --- project ids ---------------------------------------------------------------------------------
# https://man7.org/linux/man-pages/man2/ioctl_xfs_fsgetxattr.2.html

@dataclasses.dataclass(frozen=True)
class FsXattr:
    """The fields of ``struct fsxattr`` that FS_IOC_FSSETXATTR takes."""

    xflags: int
    extsize: int
    nextents: int
    projid: int
    cowextsize: int


def fs_ioc_fsgetxattr(fd: int, target: str) -> FsXattr:
    """ioctl(FS_IOC_FSGETXATTR): extended flags and project id of the open file ``fd``."""
    attr = ffi.new("struct fsxattr *")
    _check(lib.ioctl(fd, lib.FS_IOC_FSGETXATTR, attr), "ioctl(FS_IOC_FSGETXATTR)", target)
    return FsXattr(attr.fsx_xflags, attr.fsx_extsize, attr.fsx_nextents, attr.fsx_projid,
                   attr.fsx_cowextsize)


def fs_ioc_fssetxattr(fd: int, value: FsXattr, target: str) -> None:
    """ioctl(FS_IOC_FSSETXATTR): write back a (modified) :func:`fs_ioc_fsgetxattr` result."""
    attr = ffi.new("struct fsxattr *")
    attr.fsx_xflags, attr.fsx_extsize, attr.fsx_nextents = value.xflags, value.extsize, value.nextents
    attr.fsx_projid, attr.fsx_cowextsize = value.projid, value.cowextsize
    _check(lib.ioctl(fd, lib.FS_IOC_FSSETXATTR, attr), "ioctl(FS_IOC_FSSETXATTR)", target)
