"""Job notifications (tier 2): an IO completion port receiving ``JOB_OBJECT_MSG_*`` packets.

One port can serve many jobs; each job is attached with its own key.  For
most messages the packet's "overlapped" value is the process id (zero for
``ACTIVE_PROCESS_ZERO``).  Seen under Wine: ``TerminateJobObject`` produces
no ``EXIT_PROCESS`` message, only ``ACTIVE_PROCESS_ZERO``.
"""

from __future__ import annotations

import dataclasses
import enum

from ...errors import InvalidState
from ._api import REAL, Api
from ._ffi import C
from .job import JobObject


class JobMessage(enum.IntEnum):
    """``JOB_OBJECT_MSG_*`` codes (winnt.h)."""

    END_OF_JOB_TIME = C.JOB_OBJECT_MSG_END_OF_JOB_TIME
    END_OF_PROCESS_TIME = C.JOB_OBJECT_MSG_END_OF_PROCESS_TIME
    ACTIVE_PROCESS_LIMIT = C.JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT
    ACTIVE_PROCESS_ZERO = C.JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO
    NEW_PROCESS = C.JOB_OBJECT_MSG_NEW_PROCESS
    EXIT_PROCESS = C.JOB_OBJECT_MSG_EXIT_PROCESS
    ABNORMAL_EXIT_PROCESS = C.JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS
    PROCESS_MEMORY_LIMIT = C.JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT
    JOB_MEMORY_LIMIT = C.JOB_OBJECT_MSG_JOB_MEMORY_LIMIT


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """One notification: which message, for which job key, about which process (0 if none)."""

    message: JobMessage | int
    key: int
    pid: int


class JobEvents:
    """A completion port that jobs report to; ``close()`` is idempotent."""

    def __init__(self, *, api: Api = REAL) -> None:
        self._api = api
        self._port = api.kernel32.CreateIoCompletionPort()

    def __repr__(self) -> str:
        return f"<JobEvents {'closed' if self._port is None else 'open'}>"

    @property
    def port(self):
        """The port's HANDLE; :class:`InvalidState` once closed."""
        if self._port is None:
            raise InvalidState("closed", "use the completion port")
        return self._port

    def attach(self, job: JobObject, key: int) -> None:
        """Deliver ``job``'s messages here tagged with ``key`` (a job has at most one port)."""
        job.attach_port(self.port, key)

    def get(self, timeout: float) -> JobEvent | None:
        """The next event, waiting up to ``timeout`` seconds; ``None`` if none came."""
        packet = self._api.kernel32.GetQueuedCompletionStatus(self.port, int(timeout * 1000))
        if packet is None:
            return None
        message, key, pid = packet
        try:
            message = JobMessage(message)
        except ValueError:
            pass  # a message newer than this table: report the raw number
        return JobEvent(message, key, pid)

    def close(self) -> None:
        """Close the port; idempotent."""
        if self._port is not None:
            port, self._port = self._port, None
            self._api.kernel32.CloseHandle(port)
