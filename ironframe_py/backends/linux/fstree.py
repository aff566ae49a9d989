"""Remove a container's directory tree, whatever its tenant left in it (tier 2).

A hostile container can leave a tree deeper than Python's recursion limit,
symlinks pointing anywhere on the host, and (through an admin's bind mount)
another filesystem inside its directory.  :func:`remove_tree` therefore

* walks iteratively, holding one directory fd at a time (a 5,000-deep tree
  needs neither 5,000 frames nor 5,000 fds), and climbs back through ``..``
  only after checking it leads to the directory it came from;
* never follows a symlink: every entry is ``lstat``-ed, directories are
  opened with ``O_NOFOLLOW`` relative to their parent's fd, symlinks are
  unlinked as the links they are;
* never crosses into another filesystem: mounts below the directory are
  unmounted first (so nothing is deleted *through* a bind mount), and a
  directory on another device that is still there stops the removal with
  ``EBUSY`` instead of being emptied.
"""

from __future__ import annotations

import errno
import os
import stat

from ...errors import os_error
from . import disk_api, mountinfo
from ._native import lib

__all__ = ["remove_tree", "mounts_below"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def mounts_below(path: str) -> list[str]:
    """Mount points strictly below ``path``, deepest first."""
    prefix = path.rstrip("/") + "/"
    found = [m.mount_point for m in mountinfo.read() if m.mount_point.startswith(prefix)]
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything below it; nothing there is success.

    ``path`` itself must not be a mount point (the disk limit's filesystem
    is released by its own resource first): that raises ``EBUSY``.
    """
    try:
        top = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(top.st_mode):
        os.unlink(path)
        return
    if os.path.ismount(path):
        raise os_error("rmdir", errno=errno.EBUSY, target=path,
                       strerror="still a mount point; the disk limit was not released")
    for point in mounts_below(path):
        # MNT_DETACH: the mount leaves the tree at once even if something holds it open.
        disk_api.umount2(point, lib.MNT_DETACH)
    _empty(path, top)
    os.rmdir(path)


def _empty(path: str, top: os.stat_result) -> None:
    """Delete everything inside the directory ``path`` (whose ``lstat`` is ``top``)."""
    fd = os.open(path, _DIR_FLAGS)
    # One entry per level below ``path``: (device, inode, name in parent, names left to visit).
    stack: list[tuple[int, int, str, list[str]]] = []
    names = os.listdir(fd)
    try:
        while True:
            where = os.path.join(path, *(entry[2] for entry in stack))
            child = _next_subdirectory(fd, names, top.st_dev, where)
            if child is not None:
                name, child_fd, st = child
                stack.append((st.st_dev, st.st_ino, name, names))
                os.close(fd)
                fd, names = child_fd, os.listdir(child_fd)
                continue
            if not stack:
                return
            _, _, name, names = stack.pop()
            parent_fd = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent_fd
            expected = (stack[-1][0], stack[-1][1]) if stack else (top.st_dev, top.st_ino)
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != expected:
                raise os_error("openat", errno=errno.ESTALE, target=path,
                               strerror="the tree changed while it was being removed")
            os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)


def _next_subdirectory(fd: int, names: list[str], device: int,
                       where: str) -> tuple[str, int, os.stat_result] | None:
    """Unlink the non-directories of ``names`` (consumed as it goes) until a non-empty
    subdirectory turns up; return it opened, or ``None`` when the directory is empty.
    ``where`` is the directory's path, for messages."""
    while names:
        name = names.pop()
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=fd)
            continue
        if st.st_dev != device:
            raise os_error("rmdir", errno=errno.EBUSY, target=os.path.join(where, name),
                           strerror="another filesystem is still mounted here")
        try:
            os.rmdir(name, dir_fd=fd)  # an empty directory: no need to go in
            continue
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        child_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
        opened = os.fstat(child_fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            os.close(child_fd)
            raise os_error("openat", errno=errno.ESTALE, target=os.path.join(where, name),
                           strerror="the tree changed while it was being removed")
        return name, child_fd, opened
    return None
