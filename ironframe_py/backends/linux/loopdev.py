"""Loop devices: attach an image file, detach, and find devices by backing file (tier 2).

Only ioctls (through :mod:`.disk_api`), no ``losetup``:

* :func:`attach` asks ``/dev/loop-control`` for a free device
  (``LOOP_CTL_GET_FREE``) and binds the image with ``LOOP_CONFIGURE``
  (Linux 5.8+; ``LOOP_SET_FD`` + ``LOOP_SET_STATUS64`` on older kernels).
  Another process may take the same free device in between; the kernel
  then answers ``EBUSY`` and we ask again.
* The device is attached *without* ``LO_FLAGS_AUTOCLEAR``: with it, the
  device would free itself the moment :func:`attach` closes its fd, before
  anything is mounted.  The caller sets it with :func:`set_autoclear` once a
  mount holds the device, so the last unmount frees it.  A host that dies in
  between leaves an attached device whose name may never have been
  recorded; :func:`find_by_backing_file` finds it through sysfs.
* :func:`detach` is idempotent.  On a device still open elsewhere (mounted)
  the kernel defers the detach to the last close (Linux 5.x+).
"""

from __future__ import annotations

import errno
import os

from ...errors import os_error
from . import disk_api
from ._native import lib

__all__ = ["attach", "detach", "set_autoclear", "find_by_backing_file", "backing_file", "LOOP_MAJOR"]

LOOP_CONTROL = "/dev/loop-control"
LOOP_MAJOR = 7
SYS_BLOCK = "/sys/block"
_ATTACH_TRIES = 32
_DELETED = " (deleted)"


def _device_node(number: int) -> str:
    path = f"/dev/loop{number}"
    if not os.path.exists(path):  # a minimal /dev (container, CI) lacks new nodes: make it
        try:
            os.mknod(path, 0o660 | 0o060000, os.makedev(LOOP_MAJOR, number))
        except FileExistsError:  # udev or a concurrent attach made it meanwhile
            pass
    return path


def _bind(device: str, backing_fd: int, name: bytes) -> bool:
    """Bind ``backing_fd`` to ``device``; False if someone else took the device first."""
    fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    try:
        info = disk_api.LoopInfo(file_name=name)
        try:
            disk_api.loop_configure(fd, backing_fd, info, device)
        except OSError as err:
            if err.errno == errno.EBUSY:
                return False
            if err.errno not in (errno.EINVAL, errno.ENOTTY):
                raise
            # Kernel before 5.8: no LOOP_CONFIGURE.
            try:
                disk_api.loop_set_fd(fd, backing_fd, device)
            except OSError as old:
                if old.errno == errno.EBUSY:
                    return False
                raise
            disk_api.loop_set_status64(fd, info, device)
        return True
    finally:
        os.close(fd)


def attach(image_path: str) -> str:
    """Attach ``image_path`` (read-write) to a free loop device; return ``"/dev/loopN"``."""
    name = os.fsencode(os.path.realpath(image_path))
    control = os.open(LOOP_CONTROL, os.O_RDWR | os.O_CLOEXEC)
    try:
        backing = os.open(image_path, os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(_ATTACH_TRIES):
                device = _device_node(disk_api.loop_ctl_get_free(control))
                if _bind(device, backing, name):
                    return device
        finally:
            os.close(backing)
    finally:
        os.close(control)
    raise os_error("ioctl(LOOP_CONFIGURE)", errno=errno.EBUSY, target=image_path,
                   strerror=f"every free loop device was taken by others, {_ATTACH_TRIES} times")


def set_autoclear(device: str) -> None:
    """Make ``device`` detach itself when its last user (the mount) closes it.

    Call it only while something else holds the device open: this call's own
    close would otherwise be the last one and detach the device at once.
    """
    fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    try:
        info = disk_api.loop_get_status64(fd, device)
        disk_api.loop_set_status64(fd, _with_flags(info, info.flags | lib.LO_FLAGS_AUTOCLEAR), device)
    finally:
        os.close(fd)


def _with_flags(info: disk_api.LoopInfo, flags: int) -> disk_api.LoopInfo:
    return disk_api.LoopInfo(info.offset, info.sizelimit, flags, info.file_name)


def detach(device: str) -> None:
    """Unbind ``device``; a missing or already free device is fine."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENXIO):
            return
        raise os_error("open", errno=err.errno or 0, target=device) from None
    try:
        disk_api.loop_clr_fd(fd, device)
    except OSError as err:
        if err.errno != errno.ENXIO:  # ENXIO: not bound (any more)
            raise
    finally:
        os.close(fd)


def backing_file(name: str) -> str | None:
    """Backing file of loop device ``name`` (``"loop3"``) as sysfs shows it, or ``None`` if free."""
    try:
        with open(f"{SYS_BLOCK}/{name}/loop/backing_file") as file:
            return file.read().rstrip("\n")
    except (FileNotFoundError, NotADirectoryError):
        return None


def find_by_backing_file(image_path: str) -> list[str]:
    """Every attached loop device whose backing file is ``image_path`` (also if unlinked since)."""
    wanted = os.path.realpath(image_path)  # sysfs shows the resolved path
    found = []
    for name in sorted(os.listdir(SYS_BLOCK)):
        if not name.startswith("loop"):
            continue
        path = backing_file(name)
        if path is not None and path.removesuffix(_DELETED) == wanted:
            found.append(f"/dev/{name}")
    return found
