"""Disk limits for Linux containers: choose the method, and the recorded resource for it.

``"quota"``: a project quota on the container directory, where the kernel
and the filesystem of the service root support it (see :mod:`.quota`).
``"loopfs"``: otherwise, a filesystem image of exactly the limit, mounted on
the container directory (see :mod:`.loopfs`).  Either way the backend
records one :class:`~ironframe_py.backends.base.Resource` whose data is
enough to remove it after a crash.
"""

from __future__ import annotations

import os

from ...errors import UnsupportedOnPlatform
from ..base import ContainerContext, Resource
from . import loopfs, quota

KINDS = ("loopfs", "quota")


def choose_method(root: str) -> str:
    """``"quota"`` if project quotas work on ``root``'s filesystem, else ``"loopfs"``."""
    return "quota" if quota.supported(root) else "loopfs"


def resource_for(method: str, image_dir: str, ctx: ContainerContext) -> Resource:
    """The resource to record before creating the disk limit of ``ctx``."""
    if method == "loopfs":
        return Resource("loopfs", os.path.join(image_dir, f"{ctx.handle}.img"),
                        {"mountpoint": ctx.path, "size": ctx.limits.disk, "uid": ctx.uid,
                         "gid": ctx.gid})
    return Resource("quota", ctx.path, {"project": ctx.uid, "size": ctx.limits.disk,
                                        "device": quota.device_of(ctx.path)})


def create(resource: Resource) -> Resource:
    """Create the disk limit; returns the resource with the facts learned (device...)."""
    data = dict(resource.data)
    if resource.kind == "loopfs":
        data.update(loopfs.create(resource.key, data["mountpoint"], data["size"], data["uid"],
                                  data["gid"]))
    else:
        quota.set_project(resource.key, data["project"])
        quota.set_limit(data["device"], data["project"], data["size"])
    return Resource(resource.kind, resource.key, data)


def remove(resource: Resource) -> None:
    """Remove the disk limit; idempotent."""
    if resource.kind == "loopfs":
        loopfs.remove(resource.key, resource.data["mountpoint"])
    else:
        quota.clear(resource.data["device"], resource.data["project"])


def usage(resource: Resource) -> tuple[int | None, int]:
    """``(bytes used, limit)``."""
    if resource.kind == "loopfs":
        return loopfs.usage(resource.data["mountpoint"]), resource.data["size"]
    used, _ = quota.get_usage(resource.data["device"], resource.data["project"])
    return used, resource.data["size"]


def method_of(resource: Resource) -> str:
    """``"loopfs"`` or ``"quota"``."""
    return resource.kind


def resize(resource: Resource, size: int) -> Resource:
    """Change the limit: a project quota can change at any time; a per-container
    filesystem's size is fixed when it is made."""
    if resource.kind == "loopfs":
        raise UnsupportedOnPlatform(
            "limit_disk", "the container's disk is a filesystem of fixed size (this host has no "
            "project quotas); its size can only be chosen at creation")
    data = dict(resource.data)
    quota.set_limit(data["device"], data["project"], size)
    data["size"] = size
    return Resource(resource.kind, resource.key, data)
