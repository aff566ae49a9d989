"""The guard target of a Windows container: its job handle and its user's SID.

The C guard core attaches the job to its own completion port (memory-limit
and process messages), sums the commit of the job's processes every sweep,
terminates the job on a breach, and kills processes of the user's SID
outside the job.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..base import ContainerContext
from ._ffi import ffi

__all__ = ["WindowsGuardTarget", "handle_value", "target_for"]


@dataclasses.dataclass(frozen=True)
class WindowsGuardTarget:
    """What the guard watches for one container on Windows.

    :param job: the job's HANDLE as an integer (:func:`handle_value`), with
        ``JOB_OBJECT_QUERY | JOB_OBJECT_TERMINATE | JOB_OBJECT_SET_ATTRIBUTES``
        access.  The caller keeps it open while it is watched.  The guard
        attaches the job to its completion port (a job has at most one) and,
        on Windows 8+, sets a job notification limit below ``memory_limit``.
    :param memory_limit: bytes of commit (sum of the processes'
        PagefileUsage) above which the job is terminated; ``None``: only the
        job's own memory-limit messages count.
    :param sid: the container user's SID (``GetLengthSid`` bytes, at most
        68); processes of that user outside the job are escapees.  ``None``
        turns the escapee sweep off for this container.
    :param exit_code: the exit code of what the guard terminates.
    """

    job: int
    memory_limit: int | None = None
    sid: bytes | None = None
    exit_code: int = 1

    def __post_init__(self) -> None:
        if self.sid is not None and not 8 <= len(self.sid) <= 68:
            raise ValueError(f"a SID has 8 to 68 bytes, not {len(self.sid)}")
        if not self.job:
            raise ValueError("job must be an open job HANDLE")


def handle_value(handle: Any) -> int:
    """A HANDLE as the integer the guard core takes."""
    return int(ffi.cast("uintptr_t", handle))


def target_for(ctx: ContainerContext, view: Any, exit_code: int) -> WindowsGuardTarget:
    """What the guard needs for one container (``view`` is a ``WindowsContainerView``);
    what it terminates exits with ``exit_code`` (the backend's code for "killed").

    The backend keeps the job handle open until the container is destroyed,
    and the service unwatches a container before destroying it.
    """
    return WindowsGuardTarget(job=handle_value(view.job.handle), memory_limit=ctx.limits.memory,
                              sid=view.user_sid(), exit_code=exit_code)
