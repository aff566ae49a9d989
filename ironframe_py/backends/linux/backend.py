"""LinuxBackend: composes cgroups, uids, the container directory, its ACL and disk limit.

Creation plan, in order (each resource recorded before it is made):

0. a host-wide claim on the uid (``/run/ironframe/uids/<uid>``), so that
   services with different roots never share a uid;
1. one cgroup per hierarchy (v1 memory/cpu/cpuacct/pids/freezer plus the
   cgroup2 directory used for ``cgroup.kill``; or one v2 cgroup), limits
   written as it is made;
2. the container directory (root-owned, 0700, until step 4);
3. with a disk limit: a project quota on the directory where the kernel has
   quotas, else a filesystem image of exactly that size, loop-mounted on
   the directory;
4. ownership by the container uid/gid, mode 0700, and an ACL entry for the
   host admin group (no resource of its own: it lives on the directory);
5. the container's mount, IPC, UTS and (unless ``network="host"``) network
   namespaces, kept as files under ``<root>/ns/<handle>``
   (:mod:`.namespaces`).

``release`` removes any one of these from its record alone, so rollback,
``destroy`` and ``recover`` share it.
"""

from __future__ import annotations

import errno
import grp
import hashlib
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import SpecError, UnsupportedOnPlatform, os_error
from ...spec import Limits, ProcessSpec
from ..base import ContainerContext, Resource, Stats, Step
from . import acl, disk, fstree, launch, namespaces, users
from .cgroup import CgroupLayout, CgroupSet, remove_dir
from .guard_target import LinuxGuardTarget, target_for

DIR_MODE = 0o700
ROOT_MODE = 0o711


class LinuxBackend:
    """The :class:`~ironframe_py.backends.base.Backend` for Linux (needs root)."""

    platform = "linux"
    identity_kinds = frozenset({"uid"})

    def __init__(self, root: str, *, admin_group: int | str | None = None,
                 cgroup_parent: str | None = None) -> None:
        self.root = root
        self.images = os.path.join(root, "images")
        self.ns_root = os.path.join(root, "ns")
        self.admin_gid = _group_id(admin_group)
        service_id = hashlib.sha1(root.encode()).hexdigest()[:8]
        self.layout = CgroupLayout(f"ironframe-{service_id}", parent=cgroup_parent)
        self._disk_method: str | None = None

    def __repr__(self) -> str:
        return f"<LinuxBackend root={self.root!r} admin_gid={self.admin_gid} {self.layout!r}>"

    # --- host --------------------------------------------------------------------------

    def check_host(self) -> None:
        """Raise :class:`AccessDenied` unless running as root."""
        if os.geteuid() != 0:
            raise os_error("geteuid", errno=errno.EPERM, target=self.root,
                           strerror="the Linux backend must run as root (cgroups, uids, mounts)")

    def prepare_root(self, root: str) -> None:
        """Make the root and ``containers/`` searchable (o+x) and ``images/`` root-only."""
        if os.geteuid() != 0:
            return  # read-only use (list/info) by another user
        _check_ancestors_searchable(root)
        os.chmod(root, ROOT_MODE)
        os.chmod(os.path.join(root, "containers"), ROOT_MODE)
        for private in (self.images, self.ns_root):
            os.makedirs(private, mode=0o700, exist_ok=True)
            os.chmod(private, 0o700)

    def uid_claimed(self, uid: int) -> bool:
        """True if ``uid`` must not be handed out: another service on this host holds
        it, or a process runs as it (in any of its uid slots)."""
        return users.is_claimed(uid) or bool(users.pids_of_uid(uid))

    def user_name(self, ctx: ContainerContext) -> str:
        """Linux containers have no passwd entry: the uid is the name."""
        return str(ctx.uid)

    def close(self) -> None:
        """Remove this service's parent cgroups if no container uses them."""
        self.layout.remove_parents()

    def guard_target(self, ctx: ContainerContext, view: LinuxContainerView) -> LinuxGuardTarget:
        """The cgroup files through which the guard watches this container."""
        return target_for(ctx, view)

    # --- plan / release ----------------------------------------------------------------------

    def plan(self, ctx: ContainerContext) -> list[Step]:
        """Ordered creation steps for ``ctx`` (see the module docstring)."""
        self.layout.ensure_parents()
        owner = f"{self.root}\n{ctx.handle}\n"
        steps = [Step("uid claim", _bind(users.claim, ctx.uid, owner),
                      Resource("uid", str(ctx.uid), {"owner": owner}))]
        steps += [Step(f"cgroup {path}", _bind(self.layout.create_dir, path, ctx.limits),
                       Resource("cgroup", path))
                  for path in self.layout.container_dirs(ctx.handle)]
        steps.append(Step("directory", _bind(_make_dir, ctx.path), Resource("dir", ctx.path)))
        if ctx.limits.disk is not None:
            steps.append(self._disk_step(ctx))
        steps.append(Step("secure directory", _bind(self._secure_dir, ctx)))
        steps += namespaces.plan(self.root, ctx, ctx.network)
        return steps

    def _disk_step(self, ctx: ContainerContext) -> Step:
        if self._disk_method is None:
            self._disk_method = disk.choose_method(self.root)
        resource = disk.resource_for(self._disk_method, image_dir=self.images, ctx=ctx)
        return Step(f"disk limit ({self._disk_method})", _bind(disk.create, resource), resource)

    def _secure_dir(self, ctx: ContainerContext) -> None:
        os.chown(ctx.path, ctx.uid, ctx.gid)
        os.chmod(ctx.path, DIR_MODE)
        acl.grant_group(ctx.path, self.admin_gid, "rwx", default=True)

    def release(self, resource: Resource) -> None:
        """Remove one recorded resource; succeeds if it is already gone."""
        if resource.kind == "uid":
            users.unclaim(int(resource.key), resource.data["owner"])
        elif resource.kind == "cgroup":
            remove_dir(resource.key)
        elif resource.kind == "dir":
            fstree.remove_tree(resource.key)
        elif resource.kind in disk.KINDS:
            disk.remove(resource)
        elif resource.kind in ("ns", "nsdir"):
            namespaces.release(resource)
        else:
            raise ValueError(f"unknown resource kind {resource.kind!r} in the state store")

    def open(self, ctx: ContainerContext, resources: Sequence[Resource]) -> LinuxContainerView:
        """Runtime view of a created container."""
        cgroups = self.layout.open([r.key for r in resources if r.kind == "cgroup"])
        disk_resource = next((r for r in resources if r.kind in disk.KINDS), None)
        return LinuxContainerView(ctx, cgroups, disk_resource, resources)


class LinuxContainerView:
    """Processes, usage and limits of one Linux container."""

    def __init__(self, ctx: ContainerContext, cgroups: CgroupSet, disk_resource: Resource | None,
                 resources: Sequence[Resource] = ()) -> None:
        self.ctx = ctx
        self.cgroups = cgroups
        self.disk_resource = disk_resource
        self.ns_paths = namespaces.join_paths(resources)
        self.namespaces = namespaces.types_of(resources)

    def __repr__(self) -> str:
        return f"<LinuxContainerView {self.ctx.handle!r} uid={self.ctx.uid} {self.cgroups!r}>"

    def spawn(self, spec: ProcessSpec, env: Mapping[str, str],
              stdio: Sequence[int | None]) -> launch.LinuxProcess:
        """Start ``spec`` as the container uid inside the container's cgroups."""
        cwd = os.path.join(self.ctx.path, spec.cwd) if spec.cwd else self.ctx.path
        full_env = launch.build_env({}, env, home=self.ctx.path)
        path = launch.resolve_executable(spec.argv[0], full_env.get("PATH"), cwd)
        return launch.spawn(path, list(spec.argv), full_env, cwd, self.ctx.uid, self.ctx.gid,
                            self.cgroups.procs_paths(), tuple(stdio),  # type: ignore[arg-type]
                            ns_paths=self.ns_paths)

    def pids(self) -> list[int]:
        """Every process in the container's cgroups."""
        return self.cgroups.pids()

    def kill_all(self, timeout: float) -> None:
        """Kill the cgroups' processes, then any process of the uid left anywhere."""
        self.cgroups.kill_all(timeout)
        users.kill_uid(self.ctx.uid, timeout)

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to every process in the container."""
        self.cgroups.signal_all(sig)

    def stats(self) -> Stats:
        """Usage from the cgroup files and the disk limit's filesystem or quota."""
        cg = self.cgroups.stats()
        disk_usage = disk_limit = method = None
        if self.disk_resource is not None:
            disk_usage, disk_limit = disk.usage(self.disk_resource)
            method = disk.method_of(self.disk_resource)
        return Stats(memory_usage=cg.memory_usage, memory_peak=cg.memory_peak,
                     memory_limit=cg.memory_limit, cpu_time=cg.cpu_time, processes=cg.processes,
                     process_limit=cg.process_limit, disk_usage=disk_usage, disk_limit=disk_limit,
                     disk_method=method, oom_kills=cg.oom_kills, namespaces=self.namespaces)

    def set_limits(self, limits: Limits) -> None:
        """Apply the non-``None`` fields of ``limits``."""
        if limits.disk is not None:
            if self.disk_resource is None:
                raise UnsupportedOnPlatform(
                    "limit_disk", "a disk limit can only be changed on a container created with one")
            self.disk_resource = disk.resize(self.disk_resource, limits.disk)
        self.cgroups.set_limits(limits)

    def close(self) -> None:
        """Nothing is held open between calls."""


# --- helpers ---------------------------------------------------------------------------------

def _bind(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    def call() -> Any:
        return function(*args, **kwargs)
    call.__name__ = getattr(function, "__name__", "step")
    return call


def _group_id(group: int | str | None) -> int:
    if group is None:
        return 0
    if isinstance(group, int) and not isinstance(group, bool) and group >= 0:
        return group
    if isinstance(group, str):
        try:
            return grp.getgrnam(group).gr_gid
        except KeyError:
            raise SpecError("admin_group", "must name an existing host group", group) from None
    raise SpecError("admin_group", "must be a group name or a gid >= 0", group)


def _make_dir(path: str) -> None:
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        raise os_error("mkdir", errno=errno.EEXIST, target=path,
                       strerror="container directory exists already (left by another host?)") from None
    os.chown(path, 0, 0)


def _check_ancestors_searchable(root: str) -> None:
    path = os.path.dirname(os.path.abspath(root))
    while True:
        mode = os.stat(path).st_mode
        if not mode & stat.S_IXOTH:
            raise SpecError("root", f"every parent directory must be searchable by other users "
                            f"(o+x) so container users can reach their directory; {path} is not",
                            root)
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent
