"""A container's mount, IPC, UTS and network namespaces (tier 2).

Made once per container at ``create()`` and kept alive by bind-mounting their
nsfs files onto files under the service root, as ``ip netns add`` does;
every process the container runs joins them (``setns`` in the spawn helper).
The plan steps, in order:

1. ``nsdir`` resource: ``<root>/ns/<handle>``, a private bind mount of
   itself, holding one empty file per namespace type;
2. the container's private directories (``.ironframe/tmp``, ...) on its own
   storage, then the setup child (``_csrc/nsinit.c``): it unshares, builds
   the mount view, opens its ``/proc/self/ns/<type>`` files into *our*
   descriptor table (``CLONE_FILES``) and exits; those descriptors alone
   keep the namespaces alive (no resource: they close if we die);
3. one ``ns`` resource per type: the descriptor bound onto its file
   (through ``/proc/self/fd/<n>``);
4. the descriptors are closed: the bound files hold the namespaces now.

Releasing an ``ns`` resource unmounts its file; the kernel frees the
namespace -- its mounts, SysV objects, message queues, ``/dev/shm`` pages
and network devices -- when the last file and the last process let go.
Releasing the ``nsdir`` also closes descriptors still held (a failed
create) and removes the directory.  Both treat "already gone" as success.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from collections.abc import Sequence

from ...errors import OSCallError, os_error
from ..base import ContainerContext, Resource, Step
from . import _api, mounts
from ._native import lib

#: Namespace types, in the order they are made and reported by ``info()``.
TYPES = ("mnt", "ipc", "uts", "net")
#: The order the spawn helper joins them: the mount namespace last, as nsenter does.
JOIN_ORDER = ("ipc", "uts", "net", "mnt")

#: ``ContainerSpec.network`` values: a namespace with only ``lo``, or the host's network.
NETWORK_LOOPBACK = "loopback"
NETWORK_HOST = "host"

#: Host paths that each container gets its own copy of, and where that copy lives inside
#: the container directory (so the disk limit covers it).
PRIVATE_DIRS = (("/tmp", "tmp"), ("/var/tmp", "var-tmp"), ("/run/lock", "run-lock"))
PRIVATE_PARENT = ".ironframe"
PRIVATE_MODE = 0o1777

#: False forces the pre-5.12 way of making the host read-only (remount each mount) even
#: where mount_setattr(2) exists; the tests run both paths.
USE_MOUNT_SETATTR = True

_held: dict[str, dict[str, int]] = {}  # ns directory -> descriptors, between steps 2 and 4
_held_lock = threading.Lock()


def ns_dir(root: str, handle: str) -> str:
    """``<root>/ns/<handle>``: where the container's namespace files live."""
    return os.path.join(root, "ns", handle)


def types_for(network: str | None) -> tuple[str, ...]:
    """The namespace types a container with ``network`` gets."""
    if network == NETWORK_HOST:
        return tuple(t for t in TYPES if t != "net")
    return TYPES


def plan(root: str, ctx: ContainerContext, network: str | None) -> list[Step]:
    """The namespace steps for ``ctx`` (see the module docstring)."""
    directory = ns_dir(root, ctx.handle)
    types = types_for(network)
    steps = [Step("namespace directory", lambda: _make_dir(directory, types),
                  Resource("nsdir", directory))]
    steps.append(Step("namespace setup", lambda: _start(root, directory, ctx, types)))
    for ns_type in types:
        path = os.path.join(directory, ns_type)
        steps.append(Step(f"namespace {ns_type}", _binder(directory, ns_type, path),
                          Resource("ns", path, {"type": ns_type})))
    steps.append(Step("namespaces held", lambda: _finish(directory)))
    return steps


def release(resource: Resource) -> None:
    """Remove an ``nsdir`` or ``ns`` resource; succeeds if it is already gone."""
    if resource.kind == "ns":
        mounts.unmount(resource.key)
    elif resource.kind == "nsdir":
        _stop(resource.key)
        if not os.path.lexists(resource.key):
            return
        for name in TYPES:  # a file whose ns resource was never recorded (crash mid-step)
            mounts.unmount(os.path.join(resource.key, name))
        try:
            mounts.unmount(resource.key)
        except OSCallError as err:
            if err.errno != errno.EBUSY:
                raise
            mounts.unmount_all(resource.key)  # something else below it: take it all
        shutil.rmtree(resource.key)
    else:
        raise ValueError(f"not a namespace resource: {resource.kind!r}")


def join_paths(resources: Sequence[Resource]) -> list[str]:
    """The namespace files of a container, in :data:`JOIN_ORDER`."""
    by_type = {r.data["type"]: r.key for r in resources if r.kind == "ns"}
    return [by_type[t] for t in JOIN_ORDER if t in by_type]


def types_of(resources: Sequence[Resource]) -> tuple[str, ...]:
    """The namespace types a container has, in :data:`TYPES` order."""
    have = {r.data["type"] for r in resources if r.kind == "ns"}
    return tuple(t for t in TYPES if t in have)


# --- the steps --------------------------------------------------------------------------------

def _make_dir(directory: str, types: Sequence[str]) -> None:
    os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        raise os_error("mkdir", errno=errno.EEXIST, target=directory,
                       strerror="namespace directory exists already") from None
    mounts.make_private_self_bind(directory)
    for ns_type in types:
        os.close(os.open(os.path.join(directory, ns_type),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def _private_sources(ctx: ContainerContext) -> list[tuple[str, str]]:
    """Make the private directories on the container's storage; ``(target, source)`` pairs."""
    parent = os.path.join(ctx.path, PRIVATE_PARENT)
    os.mkdir(parent, 0o755)  # root-owned: the container cannot rename or replace its children
    os.chown(parent, 0, 0)
    os.chmod(parent, 0o755)
    pairs = []
    for target, name in PRIVATE_DIRS:
        source = os.path.join(parent, name)
        os.mkdir(source, 0o700)
        os.chown(source, ctx.uid, ctx.gid)
        os.chmod(source, PRIVATE_MODE)
        pairs.append((target, source))
    return pairs


def _start(root: str, directory: str, ctx: ContainerContext, types: Sequence[str]) -> None:
    flags = 0 if USE_MOUNT_SETATTR else lib.IFL_NS_NO_SETATTR
    if "net" in types:
        flags |= lib.IFL_NS_NET
    fds = _api.ns_create(os.path.realpath(root), os.path.realpath(ctx.path),
                         _private_sources(ctx), ctx.handle, ctx.limits.memory or 0, flags)
    with _held_lock:
        _held[directory] = fds


def _binder(directory: str, ns_type: str, path: str):
    def bind() -> None:
        with _held_lock:
            fd = _held.get(directory, {}).get(ns_type)
        if fd is None:
            raise os_error("mount", errno=errno.EBADF, target=path,
                           strerror=f"no {ns_type} namespace descriptor held")
        mounts.bind_file(f"/proc/self/fd/{fd}", path)
    bind.__name__ = f"bind_{ns_type}"
    return bind


def _finish(directory: str) -> None:
    with _held_lock:
        fds = _held.pop(directory, None)
    if fds is None:
        raise os_error("close", errno=errno.EBADF, target=directory,
                       strerror="no namespace descriptors held")
    _close_all(fds)


def _stop(directory: str) -> None:
    with _held_lock:
        fds = _held.pop(directory, None)
    if fds is not None:
        _close_all(fds)


def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        os.close(fd)
