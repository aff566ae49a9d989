"""A per-container filesystem of exactly the requested size (tier 2).

Used where the kernel or filesystem has no project quotas: a sparse image
file, formatted ext4 without reserved blocks, attached to a loop device and
mounted (``nosuid,nodev,noatime``) on the container directory.  Writes past
it fail with ``ENOSPC``.

The loop device is attached with ``LOOP_CONFIGURE`` and
``LO_FLAGS_AUTOCLEAR``, so it detaches itself when the filesystem is
unmounted; :func:`remove` still finds and detaches any device backed by the
image (through sysfs), which covers a host that died between attach and
mount.  Every part of :func:`remove` is idempotent.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time

from ...errors import IronframeError, os_error
from ._native import ffi, lib

LOOP_CONTROL = "/dev/loop-control"
LOOP_MAJOR = 7
MKFS = ("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal")


def _call(result: int, function: str, target: str) -> int:
    if result < 0:
        raise os_error(function, errno=ffi.errno, target=target)
    return result


# --- loop devices ----------------------------------------------------------------------

def _device_node(number: int) -> str:
    path = f"/dev/loop{number}"
    if not os.path.exists(path):  # minimal /dev (containers, CI): make the node ourselves
        os.mknod(path, 0o660 | 0o060000, os.makedev(LOOP_MAJOR, number))
    return path


def attach(image: str) -> tuple[str, int]:
    """Attach ``image`` to a free loop device; return ``(device, open fd)``.

    The caller must keep the fd open until the filesystem is mounted: with
    autoclear, closing the last reference detaches the device.
    """
    control = os.open(LOOP_CONTROL, os.O_RDWR | os.O_CLOEXEC)
    backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(20):
            number = _call(lib.ioctl(control, lib.LOOP_CTL_GET_FREE), "ioctl(LOOP_CTL_GET_FREE)",
                           LOOP_CONTROL)
            device = _device_node(number)
            fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
            config = ffi.new("struct loop_config *")
            config.fd = backing
            config.info.lo_flags = lib.LO_FLAGS_AUTOCLEAR
            name = os.fsencode(image)[: lib.LO_NAME_SIZE - 1]
            ffi.memmove(config.info.lo_file_name, name, len(name))
            if lib.ioctl(fd, lib.LOOP_CONFIGURE, config) == 0:
                return device, fd
            error = ffi.errno
            os.close(fd)
            if error != errno.EBUSY:  # EBUSY: another process took it in between; try the next
                raise os_error("ioctl(LOOP_CONFIGURE)", errno=error, target=device)
        raise os_error("ioctl(LOOP_CONFIGURE)", errno=errno.EBUSY, target=image,
                       strerror="no free loop device after 20 tries")
    finally:
        os.close(backing)
        os.close(control)


def backed_by(image: str) -> list[str]:
    """Loop devices whose backing file is ``image`` (read from sysfs)."""
    found = []
    for name in sorted(os.listdir("/sys/block")):
        backing = f"/sys/block/{name}/loop/backing_file"
        try:
            with open(backing) as file:
                path = file.read().strip()
        except (FileNotFoundError, NotADirectoryError):
            continue
        if path in (image, image + " (deleted)"):
            found.append(f"/dev/{name}")
    return found


def detach(device: str) -> None:
    """Detach a loop device; a device that is already free is fine."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if lib.ioctl(fd, lib.LOOP_CLR_FD) < 0 and ffi.errno != errno.ENXIO:
            raise os_error("ioctl(LOOP_CLR_FD)", errno=ffi.errno, target=device)
    finally:
        os.close(fd)


# --- mounts ----------------------------------------------------------------------------------

def mount_source(mountpoint: str) -> str | None:
    """The source device of the (topmost) mount on ``mountpoint``, or ``None``."""
    source = None
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if fields[4] == mountpoint:
                source = fields[fields.index("-") + 2]
    return source


def _unmount(mountpoint: str) -> None:
    for delay in (0, 0.01, 0.05, 0.1, 0.25, 0.5):
        time.sleep(delay)
        if lib.umount2(os.fsencode(mountpoint), 0) == 0:
            return
        if ffi.errno in (errno.EINVAL, errno.ENOENT):
            return  # not mounted (any more)
        if ffi.errno != errno.EBUSY:
            raise os_error("umount2", errno=ffi.errno, target=mountpoint)
    # Still busy after the container's processes were killed: detach lazily so
    # the kernel frees it once the last reference goes, and say so.
    _call(lib.umount2(os.fsencode(mountpoint), lib.MNT_DETACH), "umount2(MNT_DETACH)", mountpoint)


# --- the filesystem ---------------------------------------------------------------------------

def create(image: str, mountpoint: str, size: int, uid: int, gid: int) -> dict[str, object]:
    """Make, format, attach and mount the filesystem; return the facts to record."""
    fd = os.open(image, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size)  # sparse: costs no disk until written
    finally:
        os.close(fd)
    result = subprocess.run([*MKFS, "-E", f"root_owner={uid}:{gid},nodiscard", image],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise IronframeError(f"mkfs.ext4 failed on {image}: {result.stderr.strip()}")
    device, fd = attach(image)
    try:
        flags = lib.MS_NOSUID | lib.MS_NODEV | lib.MS_NOATIME
        _call(lib.mount(device.encode(), os.fsencode(mountpoint), b"ext4", flags, ffi.NULL),
              "mount", mountpoint)
    finally:
        os.close(fd)  # the mount holds the device now; autoclear frees it on unmount
    lost_found = os.path.join(mountpoint, "lost+found")
    if os.path.isdir(lost_found):
        os.rmdir(lost_found)
    return {"device": device, "fstype": "ext4"}


def remove(image: str, mountpoint: str) -> None:
    """Unmount (only our own filesystem), detach and delete; each part idempotent."""
    source = mount_source(mountpoint)
    if source is not None:
        ours = source in backed_by(image)
        if not ours:
            raise os_error("umount2", errno=errno.EBUSY, target=mountpoint,
                           strerror=f"mounted from {source}, not from this container's image")
        _unmount(mountpoint)
    for device in backed_by(image):
        detach(device)
    try:
        os.unlink(image)
    except FileNotFoundError:
        return


def usage(mountpoint: str) -> int | None:
    """Bytes in use on the filesystem, or ``None`` if it is not mounted."""
    if mount_source(mountpoint) is None:
        return None
    st = os.statvfs(mountpoint)
    return (st.f_blocks - st.f_bfree) * st.f_frsize
