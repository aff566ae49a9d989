"""Where one service keeps its cgroups, and the driver chosen for this host."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Sequence

from ....errors import from_oserror, os_error
from ....spec import Limits
from . import v1, v2
from ._discover import cgroup_kill_available, discover, host_version
from ._model import Dirs, Driver, Hierarchy
from ._set import CgroupSet

#: The start of every container's cgroup directory name: ``ctr-<handle>``.
#:
#: A cgroup directory shares its parent with the kernel's interface files,
#: so a directory named after a bare handle could be ``tasks`` or
#: ``memory.max``.  Kernel interface file names are ``<controller>.<file>``,
#: where ``<controller>`` is ``cgroup`` or a controller (letters and ``_``),
#: or one of the dotless v1 names ``tasks``, ``notify_on_release`` and
#: ``release_agent``: none has a ``-`` before its first ``.``, and every
#: name made here does.
CONTAINER_PREFIX = "ctr-"


def container_dir_name(handle: str) -> str:
    """The cgroup directory name of the container ``handle``: never a kernel file's name."""
    return CONTAINER_PREFIX + handle


class CgroupLayout:
    """Where one service keeps its cgroups: ``<parent>/<service_name>/ctr-<handle>`` per
    hierarchy (see :data:`CONTAINER_PREFIX`).

    ``parent`` (a path relative to each hierarchy's root) defaults to the cgroup
    the calling process is in.  The version is chosen here, once: ``driver``
    is :mod:`.v1` (v1 and hybrid hosts) or :mod:`.v2`, and every cgroup
    file is read and written through it.  ``kernel_release`` (default: this
    kernel's) decides whether ``cgroup.kill`` exists.
    """

    def __init__(self, service_name: str, parent: str | None = None,
                 hierarchies: Sequence[Hierarchy] | None = None,
                 kernel_release: str | None = None) -> None:
        self.service_name = service_name
        self.hierarchies = list(hierarchies if hierarchies is not None else discover())
        self.driver: Driver = v1 if host_version(self.hierarchies) == 1 else v2
        self.mode = f"v{self.driver.VERSION}"
        self.cgroup_kill = cgroup_kill_available(kernel_release)
        hybrid_kill = self.driver is v1 and self.cgroup_kill and any(
            h.version == 2 for h in self.hierarchies)
        self.used = [h for h in self.hierarchies if self.driver.uses(h, hybrid_kill)]
        self.parents = [os.path.join(h.mount, (parent or h.current).strip("/"), service_name)
                        .replace("//", "/") for h in self.used]

    def __repr__(self) -> str:
        return f"<CgroupLayout {self.mode} {self.service_name} in {[h.name for h in self.used]}>"

    def container_dirs(self, handle: str) -> list[str]:
        """The container's directory in each hierarchy used.

        Only :meth:`create_dir` goes by this name: everything after it goes by
        the recorded paths, so containers of releases that named the
        directory by the bare handle are opened and removed all the same.
        """
        return [os.path.join(parent, container_dir_name(handle)) for parent in self.parents]

    def ensure_parents(self) -> None:
        """Create the service's parent directories (on v2, enabling controllers for children)."""
        for hierarchy, parent in zip(self.used, self.parents):
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as err:
                raise from_oserror("mkdir", err, parent) from None
            self.driver.prepare_parent(parent, hierarchy)

    def remove_parents(self) -> None:
        """Remove the parent directories that no container uses any more.

        A parent that still holds a container directory (another service on
        the same root) stays.  An empty one can still answer EBUSY for a
        moment while the kernel retires a just-removed child, so that is
        retried like any cgroup rmdir.
        """
        for parent in self.parents:
            try:
                children = [entry for entry in os.scandir(parent) if entry.is_dir()]
            except FileNotFoundError:
                continue
            if not children:
                remove_dir(parent)

    def hierarchy_of(self, path: str) -> Hierarchy | None:
        """The mounted hierarchy that ``path`` lies in (the deepest mount), or ``None``."""
        inside = [h for h in self.hierarchies
                  if path == h.mount or path.startswith(h.mount.rstrip("/") + "/")]
        return max(inside, key=lambda h: len(h.mount), default=None)

    def _controllers_of(self, path: str) -> frozenset[str]:
        hierarchy = self.hierarchy_of(path)
        return frozenset() if hierarchy is None else self.driver.controllers_for(hierarchy)

    def create_dir(self, path: str, limits: Limits) -> None:
        """Make one container cgroup directory and write the limits its controllers carry."""
        try:
            os.mkdir(path)
        except FileExistsError:
            raise os_error("mkdir", errno=errno.EEXIST, target=path,
                           strerror="cgroup exists already (left by another host?)") from None
        except OSError as err:
            raise from_oserror("mkdir", err, path) from None
        self.driver.apply_limits(path, self._controllers_of(path), limits)

    def open(self, paths: Sequence[str]) -> CgroupSet:
        """The runtime view of one container from its recorded directories (any name,
        any parent: each is placed by the hierarchy it lies in)."""
        controllers: dict[str, str] = {}
        unified = None
        for path in paths:
            hierarchy = self.hierarchy_of(path)
            if hierarchy is None:
                continue  # not on a mounted hierarchy (any more): pids and rmdir only
            if hierarchy.version == 2:
                unified = path
            for name in self.driver.controllers_for(hierarchy):
                controllers.setdefault(name, path)
        return CgroupSet(self.driver, Dirs(tuple(paths), controllers, unified, self.cgroup_kill))


def remove_dir(path: str, patience: float = 2.0) -> None:
    """rmdir one cgroup; gone already is success, EBUSY is retried with backoff for ``patience`` s.

    A path that is no directory (``ENOTDIR``) is success too, and is left
    alone: it is a kernel file that a release before :data:`CONTAINER_PREFIX`
    tried to make a cgroup at (handle ``tasks``), so nothing of ours is there.
    """
    delay, deadline = 0.001, time.monotonic() + patience
    while True:
        try:
            os.rmdir(path)
            return
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                error = from_oserror("rmdir", err, path)
                if err.errno == errno.EBUSY:
                    error.add_note(f"retried for {patience:.1f}s: processes are still in it")
                raise error from None
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
