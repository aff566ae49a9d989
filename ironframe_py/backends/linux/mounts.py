"""Host-side mount helpers for the namespace files (tier 2).

Reads ``/proc/self/mountinfo`` (the caller's mount namespace) and wraps the
few ``mount(2)`` / ``umount2(2)`` uses the namespace files need: a
directory that is a private bind mount of itself, a file bind, and an
idempotent unmount of everything at or below a path.
"""

from __future__ import annotations

import errno
import re

from ...errors import OSCallError, os_error
from . import disk_api
from ._native import lib

MOUNTINFO = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-3][0-7][0-7])")


def _decode(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` for a space, ...)."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def mount_points(mountinfo: str = MOUNTINFO) -> list[str]:
    """Every mount point of the caller's mount namespace, in mountinfo order (parents first)."""
    with open(mountinfo) as file:
        return [_decode(line.split()[4]) for line in file if line.strip()]


def mounts_at_or_below(path: str, mountinfo: str = MOUNTINFO) -> list[str]:
    """Mount points equal to ``path`` or below it (a mount stacked twice is listed twice)."""
    prefix = path.rstrip("/") + "/"
    return [point for point in mount_points(mountinfo) if point == path or point.startswith(prefix)]


def make_private_self_bind(path: str) -> None:
    """Make the fresh directory ``path`` a bind mount of itself with private propagation.

    Files bound below it (namespace files) then never propagate to another
    mount namespace -- in particular not into the namespace a file names,
    which would keep that namespace alive through itself.
    """
    disk_api.mount(path, path, "", lib.MS_BIND)
    disk_api.mount("", path, "", lib.MS_PRIVATE)


def bind_file(source: str, target: str) -> None:
    """Bind-mount the file ``source`` (e.g. ``/proc/<pid>/ns/net``) onto the file ``target``."""
    disk_api.mount(source, target, "", lib.MS_BIND)


def unmount_all(path: str) -> None:
    """Unmount everything at or below ``path``, deepest first, until nothing is left.

    "Not mounted" and "no such file" count as done, so it is idempotent.
    """
    for _ in range(64):  # bounded: each pass removes at least one mount or raises
        points = mounts_at_or_below(path)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            unmount(point)
    raise os_error("umount2", errno=errno.EBUSY, target=path,
                   strerror="mounts at or below it keep coming back")


def unmount(path: str) -> None:
    """Unmount whatever is mounted on ``path`` (all of a stack) without reading mountinfo.

    Done when the kernel says it is not a mount point (``EINVAL``) or not
    there (``ENOENT``); idempotent.
    """
    for _ in range(64):
        try:
            disk_api.umount2(path)
        except OSCallError as err:
            if err.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise
    raise os_error("umount2", errno=errno.EBUSY, target=path,
                   strerror="mounts on it keep coming back")
