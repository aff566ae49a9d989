"""The guard target of a Windows container: its job handle and its user's SID.

The C guard core attaches the job to its own completion port (memory-limit
and process messages), sums the commit of the job's processes every sweep,
terminates the job on a breach, and kills processes of the user's SID
outside the job.
"""

from __future__ import annotations

from ...guard import WindowsGuardTarget
from ..base import ContainerContext
from ._ffi import ffi


def handle_value(handle) -> int:
    """A HANDLE as the integer the guard core takes."""
    return int(ffi.cast("uintptr_t", handle))


def target_for(ctx: ContainerContext, view) -> WindowsGuardTarget:
    """What the guard needs for one container (``view`` is a ``WindowsContainerView``).

    The backend keeps the job handle open until the container is destroyed,
    and the service unwatches a container before destroying it.
    """
    from .backend import EXIT_KILLED

    return WindowsGuardTarget(job=handle_value(view.job.handle), memory_limit=ctx.limits.memory,
                              sid=view.user_sid(), exit_code=EXIT_KILLED)
