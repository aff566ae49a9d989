"""ironframe_py: isolate process trees as lightweight containers.

Each container gets its own user, a directory only that user (and the
host's admins) can enter, a disk limit, kernel-enforced memory / CPU /
process limits, and a guard that kills what breaks them -- on Windows
through Job Objects, local users, ACLs and NTFS quotas (as Cloud Foundry's
IronFrame did), on Linux through cgroups, uids, POSIX ACLs and per-container
filesystems or project quotas.

Quick start::

    from ironframe_py import ContainerService, ContainerSpec, Limits, PIPE

    with ContainerService(root="/var/lib/ironframe") as service:
        with service.create(ContainerSpec(limits=Limits(memory="64M", processes=32))) as box:
            proc = box.run(["/bin/echo", "hello"], stdout=PIPE)
            print(proc.communicate()[0])
"""

import logging as _logging

from .container import Container, ContainerInfo, KillEvent
from .errors import (
    AccessDenied,
    AlreadyExists,
    CleanupError,
    ContainerExists,
    ContainerNotFound,
    ExecutableNotFound,
    GuardError,
    IdentityTaken,
    InvalidState,
    IronframeError,
    NotFound,
    OSCallError,
    ProcessesSurvived,
    QuotaExceeded,
    ResourceExhausted,
    SpecError,
    StoreError,
    ToolFailed,
    UnsupportedOnPlatform,
)
from .process import ContainerProcess
from .service import DEFAULT_UID_RANGE, ContainerService
from .spec import DEVNULL, PIPE, STDOUT, ContainerSpec, Limits, ProcessSpec, format_size, parse_size

__version__ = "0.1.0"

# The library logs under "ironframe_py" and prints nothing; the application
# decides where the records go.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "CleanupError",
    "Container",
    "ContainerExists",
    "ContainerInfo",
    "ContainerNotFound",
    "ContainerProcess",
    "ContainerService",
    "ContainerSpec",
    "DEFAULT_UID_RANGE",
    "DEVNULL",
    "ExecutableNotFound",
    "GuardError",
    "IdentityTaken",
    "InvalidState",
    "IronframeError",
    "KillEvent",
    "Limits",
    "NotFound",
    "OSCallError",
    "PIPE",
    "ProcessesSurvived",
    "ProcessSpec",
    "QuotaExceeded",
    "ResourceExhausted",
    "STDOUT",
    "SpecError",
    "StoreError",
    "ToolFailed",
    "UnsupportedOnPlatform",
    "format_size",
    "parse_size",
]
