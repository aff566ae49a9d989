"""A per-container filesystem of exactly the requested size, loop-mounted (tier 2).

Used where the kernel or filesystem has no project quotas.  :func:`create`
goes through these steps, each one undone by :func:`remove`, which copes
with any prefix of them (the caller records the intent before ``create``,
so after a crash ``remove`` may meet any partial state):

1. a sparse image file of exactly ``size`` bytes, in a root-only (0700)
   directory outside the container directory;
2. ``mkfs.ext4`` on it: no reserved blocks (``-m 0``), no journal and no
   resize inode (the size never changes and the filesystem is thrown away
   after a crash, so neither pays for itself), one inode per 16 KiB, the
   root directory owned by the container uid.  Metadata then takes about
   1.7 % of the size; mkfs takes ~5 ms on a sparse file and the whole
   create ~22 ms, remove ~3 ms (medians, 16 MiB to 10 GiB, this CI host);
3. a loop device (:mod:`.loopdev`);
4. mount(2) on the container directory with ``nosuid,nodev,noatime``;
5. ``LO_FLAGS_AUTOCLEAR`` on the device, so the last unmount frees it.

Writes past the size fail with ``ENOSPC``.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import time

from ...errors import ToolFailed, UnsupportedOnPlatform, os_error
from . import disk_api, loopdev, mountinfo
from ._native import lib

__all__ = ["create", "remove", "usage", "mounted_device", "FSTYPE"]

log = logging.getLogger(__name__)

FSTYPE = "ext4"
MKFS = ("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal,^resize_inode", "-i", "16384")
IMAGE_DIR_MODE = 0o700
# Waits between umount attempts while the filesystem is busy (~0.9 s in all)
# before falling back to a lazy unmount.
_UMOUNT_BACKOFF = (0.01, 0.04, 0.1, 0.25, 0.5)


# --- create -----------------------------------------------------------------------------------

def create(image_path: str, mountpoint: str, size: int, uid: int, gid: int) -> dict[str, object]:
    """Make, format, attach and mount the filesystem; return the facts to record.

    The facts are ``{"device": "/dev/loopN", "fstype": "ext4"}``.  On failure
    everything this call made is removed again before the error propagates;
    an image that already existed is never touched (``AlreadyExists``).
    """
    _check_places(image_path, mountpoint)
    _make_image(image_path, size)
    try:
        _mkfs(image_path, uid, gid)
        device = loopdev.attach(image_path)
        flags = lib.MS_NOSUID | lib.MS_NODEV | lib.MS_NOATIME
        disk_api.mount(device, mountpoint, FSTYPE, flags)
        loopdev.set_autoclear(device)
        _remove_lost_found(mountpoint)
    except BaseException as err:
        try:
            remove(image_path, mountpoint)
        except Exception as cleanup:  # report, but keep the original error
            err.add_note(f"cleanup after the failed create: {cleanup}")
        raise
    return {"device": device, "fstype": FSTYPE}


def _check_places(image_path: str, mountpoint: str) -> None:
    image = os.path.realpath(image_path)
    inside = os.path.realpath(mountpoint).rstrip("/") + "/"
    if image.startswith(inside):
        raise os_error("mount", errno=errno.EINVAL, target=image_path,
                       strerror=f"the image must lie outside the mount point {mountpoint}")
    folder = os.path.dirname(image)
    os.makedirs(folder, mode=IMAGE_DIR_MODE, exist_ok=True)
    st = os.stat(folder)
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise os_error("open", errno=errno.EPERM, target=folder,
                       strerror="the image directory must be private to us (mode 0700, our owner)")


def _make_image(image_path: str, size: int) -> None:
    try:
        fd = os.open(image_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise os_error("open", errno=errno.EEXIST, target=image_path,
                       strerror="a filesystem image exists already (left by a crash?)") from None
    try:
        os.ftruncate(fd, size)  # sparse: costs no disk until written
    except OSError as err:
        os.unlink(image_path)
        strerror = err.strerror
        if err.errno == errno.EFBIG:
            strerror = "the disk limit is larger than a file on this filesystem can be"
        raise os_error("ftruncate", errno=err.errno or 0, target=image_path,
                       strerror=strerror) from None
    finally:
        os.close(fd)


def _mkfs(image_path: str, uid: int, gid: int) -> None:
    command = [*MKFS, "-E", f"root_owner={uid}:{gid},nodiscard", image_path]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UnsupportedOnPlatform("disk limit", "mkfs.ext4 (e2fsprogs) is not installed") from None
    if result.returncode != 0:
        raise ToolFailed("mkfs.ext4", result.returncode, result.stderr, image_path)


def _remove_lost_found(mountpoint: str) -> None:
    # The container sees an empty directory; fsck would recreate it, but the
    # filesystem is never checked: it is recreated instead.
    try:
        os.rmdir(os.path.join(mountpoint, "lost+found"))
    except FileNotFoundError:
        return


# --- remove -----------------------------------------------------------------------------------

def remove(image_path: str, mountpoint: str) -> list[str]:
    """Unmount (only a filesystem from this image), detach and delete; each part idempotent.

    Works from the two paths alone, whatever prefix of :func:`create` ran.
    Returns notes for the operator (empty normally); a filesystem still
    busy after about a second is detached lazily (``MNT_DETACH``) and a note
    says so.  A mount on ``mountpoint`` from anything else is left alone and
    raises ``EBUSY``.
    """
    notes: list[str] = []
    devices = loopdev.find_by_backing_file(image_path)
    mounted = mounted_device(mountpoint)
    if mounted is not None:
        ours = {_devno(device) for device in devices}
        if mounted not in ours:
            raise os_error("umount2", errno=errno.EBUSY, target=mountpoint,
                           strerror=f"mounted from device {mounted}, not from this image; left alone")
        notes += _unmount(mountpoint)
    for device in loopdev.find_by_backing_file(image_path):
        loopdev.detach(device)
    try:
        os.unlink(image_path)
    except FileNotFoundError:
        pass
    return notes


def _unmount(mountpoint: str) -> list[str]:
    for delay in (0, *_UMOUNT_BACKOFF):
        time.sleep(delay)
        try:
            disk_api.umount2(mountpoint)
            return []
        except OSError as err:
            if err.errno in (errno.EINVAL, errno.ENOENT):
                return []  # not a mount point (any more)
            if err.errno != errno.EBUSY:
                raise
    # Still busy although the caller killed the container's processes (an fd
    # passed to a host process, a bind mount...): detach it from the tree now;
    # the kernel frees it, and autoclear the device, when the last user goes.
    disk_api.umount2(mountpoint, lib.MNT_DETACH)
    note = (f"{mountpoint} was busy after {len(_UMOUNT_BACKOFF) + 1} tries; unmounted lazily "
            "(MNT_DETACH): the kernel releases it when its last user lets go")
    log.warning(note)
    return [note]


def mounted_device(mountpoint: str) -> str | None:
    """``"major:minor"`` of the topmost mount on ``mountpoint``, or ``None``."""
    wanted = os.path.realpath(mountpoint)
    on_it = [mount.device for mount in mountinfo.read() if mount.mount_point == wanted]
    return on_it[-1] if on_it else None  # later lines are mounted on top of earlier ones


def _devno(device: str) -> str | None:
    try:
        rdev = os.stat(device).st_rdev
    except FileNotFoundError:
        return None
    return f"{os.major(rdev)}:{os.minor(rdev)}"


# --- usage ------------------------------------------------------------------------------------

def usage(mountpoint: str) -> tuple[int, int] | None:
    """``(bytes used, bytes in the filesystem)``, or ``None`` if nothing is mounted there."""
    if not os.path.ismount(mountpoint):
        return None
    st = os.statvfs(mountpoint)
    return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_blocks * st.f_frsize
