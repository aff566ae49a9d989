"""Disk limits for Linux containers: choose the method, and the recorded resource for it.

``"quota"``: a project quota on the container directory, where the kernel
and the filesystem of the service root support it (see :mod:`.quota`).
``"loopfs"``: otherwise, a filesystem image of exactly the limit, mounted on
the container directory (see :mod:`.loopfs`).  The method is chosen only
when a container asks for a disk limit, so containers without one pay for
neither.  Either way the backend records one
:class:`~ironframe_py.backends.base.Resource` (``kind`` = the method) whose
data is enough to remove it after a crash, and both methods offer the same
``create / remove / usage / resize`` over that resource.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Protocol

from ...errors import UnsupportedOnPlatform
from ..base import ContainerContext, Resource
from . import loopfs, quota

__all__ = ["KINDS", "METHODS", "choose_method", "resource_for", "create", "remove", "usage",
           "method_of", "resize"]


class DiskMethod(Protocol):
    """What each way of limiting disk offers, over its recorded resource."""

    @property
    def kind(self) -> str:
        """The method's name, which is also the recorded resource's kind."""

    def resource(self, ctx: ContainerContext, image_dir: str) -> Resource:
        """The resource to record (as an intent) before :meth:`create`."""

    def create(self, resource: Resource) -> Resource:
        """Make the limit; return the resource with any facts learned."""

    def remove(self, resource: Resource) -> None:
        """Undo :meth:`create` from the recorded resource alone; idempotent."""

    def usage(self, resource: Resource) -> tuple[int | None, int]:
        """``(bytes used or None, the limit in bytes)``."""

    def resize(self, resource: Resource, size: int) -> Resource:
        """Change the limit; return the resource to record."""


@dataclasses.dataclass(frozen=True)
class LoopfsMethod:
    """A filesystem image of the limit's size, loop-mounted on the container directory."""

    kind: str = "loopfs"

    def resource(self, ctx: ContainerContext, image_dir: str) -> Resource:
        """Key: the image path (``<image_dir>/<handle>.img``), outside the container directory."""
        return Resource(self.kind, os.path.join(image_dir, f"{ctx.handle}.img"),
                        {"mountpoint": ctx.path, "size": ctx.limits.disk, "uid": ctx.uid,
                         "gid": ctx.gid})

    def create(self, resource: Resource) -> Resource:
        """Make, format, attach and mount; records the loop device and fstype too."""
        data = dict(resource.data)
        data.update(loopfs.create(resource.key, data["mountpoint"], data["size"], data["uid"],
                                  data["gid"]))
        return Resource(resource.kind, resource.key, data)

    def remove(self, resource: Resource) -> None:
        """Unmount, detach and delete the image."""
        loopfs.remove(resource.key, resource.data["mountpoint"])

    def usage(self, resource: Resource) -> tuple[int | None, int]:
        """Used bytes from statvfs of the mounted filesystem."""
        found = loopfs.usage(resource.data["mountpoint"])
        return (found[0] if found else None), resource.data["size"]

    def resize(self, resource: Resource, size: int) -> Resource:
        """Refused: the filesystem's size is fixed when it is made."""
        raise UnsupportedOnPlatform(
            "limit_disk", "the container's disk is a filesystem of fixed size (this host has no "
            "project quotas); its size can only be chosen at creation")


@dataclasses.dataclass(frozen=True)
class QuotaMethod:
    """A project quota (project id = the container's uid) on the container directory."""

    kind: str = "quota"

    def resource(self, ctx: ContainerContext, image_dir: str) -> Resource:
        """Key: the container directory; data: project id, size and the block device."""
        return Resource(self.kind, ctx.path, {"project": ctx.uid, "size": ctx.limits.disk,
                                              "device": quota.device_of(os.path.dirname(ctx.path))})

    def create(self, resource: Resource) -> Resource:
        """Set the limit first, then tag the directory, so no write escapes the limit."""
        quota.set_limit(resource.data["device"], resource.data["project"], resource.data["size"])
        quota.set_project(resource.key, resource.data["project"])
        return resource

    def remove(self, resource: Resource) -> None:
        """Clear the project's limit (the directory goes with the ``dir`` resource)."""
        quota.clear(resource.data["device"], resource.data["project"])

    def usage(self, resource: Resource) -> tuple[int | None, int]:
        """Used bytes as the quota subsystem counts them."""
        used, _ = quota.get_usage(resource.data["device"], resource.data["project"])
        return used, resource.data["size"]

    def resize(self, resource: Resource, size: int) -> Resource:
        """A project quota can change at any time."""
        quota.set_limit(resource.data["device"], resource.data["project"], size)
        return Resource(resource.kind, resource.key, {**resource.data, "size": size})


METHODS: dict[str, DiskMethod] = {method.kind: method for method in (LoopfsMethod(), QuotaMethod())}
KINDS = tuple(METHODS)


def choose_method(root: str) -> str:
    """``"quota"`` if project quotas work on ``root``'s filesystem, else ``"loopfs"``."""
    return "quota" if quota.supported(root) else "loopfs"


def resource_for(method: str, image_dir: str, ctx: ContainerContext) -> Resource:
    """The resource to record before creating the disk limit of ``ctx`` by ``method``."""
    return METHODS[method].resource(ctx, image_dir)


def create(resource: Resource) -> Resource:
    """Create the disk limit; returns the resource with the facts learned (loop device...)."""
    return METHODS[resource.kind].create(resource)


def remove(resource: Resource) -> None:
    """Remove the disk limit; idempotent, works from the recorded resource alone."""
    METHODS[resource.kind].remove(resource)


def usage(resource: Resource) -> tuple[int | None, int]:
    """``(bytes used or None, limit in bytes)``."""
    return METHODS[resource.kind].usage(resource)


def method_of(resource: Resource) -> str:
    """``"loopfs"`` or ``"quota"`` (what :attr:`Stats.disk_method` reports)."""
    return resource.kind


def resize(resource: Resource, size: int) -> Resource:
    """Change the limit to ``size`` bytes; ``UnsupportedOnPlatform`` for a loopfs."""
    return METHODS[resource.kind].resize(resource, size)
