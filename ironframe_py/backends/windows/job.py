"""Windows Job Object primitive (tier 2): limits, membership, accounting, kill.

Windows 8+ (nested jobs).  Setters read, modify and write the whole
``JOBOBJECT_EXTENDED_LIMIT_INFORMATION``, so one never undoes another.
Wine accepts but does not enforce job memory limits (the guard enforces
them there); everything else here runs for real under Wine.
"""

from __future__ import annotations

import dataclasses

from ...errors import InvalidState
from ._api import kernel32 as k32
from ._ffi import ffi

LIMIT = {
    "active_process": 0x00000008, "process_memory": 0x00000100, "job_memory": 0x00000200,
    "die_on_unhandled_exception": 0x00000400, "kill_on_job_close": 0x00002000,
}
EXTENDED_LIMITS = 9
BASIC_ACCOUNTING = 1
PROCESS_ID_LIST = 3
ASSOCIATE_COMPLETION_PORT = 7


@dataclasses.dataclass(frozen=True)
class JobAccounting:
    """Totals of a job: CPU seconds, processes, and peak memory."""

    user_time: float
    kernel_time: float
    active_processes: int
    total_processes: int
    peak_job_memory: int


class JobObject:
    """One Job Object handle; ``close()`` kills everything in it when kill-on-close is set."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._handle = k32.CreateJobObject(name)
        self._written = None  # the extended limits as we last set them

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return f"<JobObject {self.name or '(anonymous)'} {state}>"

    @property
    def handle(self):
        """The job's HANDLE; :class:`InvalidState` once closed."""
        if self._handle is None:
            raise InvalidState("closed", "use the job object")
        return self._handle

    def _limits(self):
        info = ffi.new("JOBOBJECT_EXTENDED_LIMIT_INFORMATION *")
        k32.QueryInformationJobObject(self.handle, EXTENDED_LIMITS, info)
        return info

    def set_limits(self, *, job_memory: int | None = None, process_memory: int | None = None,
                   active_processes: int | None = None, kill_on_close: bool | None = None) -> None:
        """Change the given limits, leaving every other one as it is.

        The base is the struct as we last wrote it (else as the kernel reports
        it): Wine answers the query with zeros, which would make each setter
        undo the previous ones; on Windows the two agree.
        """
        info = ffi.new("JOBOBJECT_EXTENDED_LIMIT_INFORMATION *")
        if self._written is not None:
            info[0] = self._written[0]
        else:
            info = self._limits()
        basic = info.BasicLimitInformation
        if job_memory is not None:
            info.JobMemoryLimit = job_memory
            basic.LimitFlags |= LIMIT["job_memory"]
        if process_memory is not None:
            info.ProcessMemoryLimit = process_memory
            basic.LimitFlags |= LIMIT["process_memory"]
        if active_processes is not None:
            basic.ActiveProcessLimit = active_processes
            basic.LimitFlags |= LIMIT["active_process"]
        if kill_on_close is not None:
            if kill_on_close:
                basic.LimitFlags |= LIMIT["kill_on_job_close"]
            else:
                basic.LimitFlags &= ~LIMIT["kill_on_job_close"]
        k32.SetInformationJobObject(self.handle, EXTENDED_LIMITS, info)
        self._written = info

    def limits(self) -> dict[str, int | bool | None]:
        """The limits as the kernel holds them."""
        info = self._limits()
        flags = info.BasicLimitInformation.LimitFlags
        return {
            "job_memory": info.JobMemoryLimit if flags & LIMIT["job_memory"] else None,
            "process_memory": info.ProcessMemoryLimit if flags & LIMIT["process_memory"] else None,
            "active_processes": (info.BasicLimitInformation.ActiveProcessLimit
                                 if flags & LIMIT["active_process"] else None),
            "kill_on_close": bool(flags & LIMIT["kill_on_job_close"]),
        }

    def assign(self, process) -> None:
        """Put a process (handle) in the job."""
        k32.AssignProcessToJobObject(self.handle, process)

    def pids(self) -> list[int]:
        """Ids of the processes in the job (probe, size, ask again)."""
        capacity = 64
        while True:
            size = ffi.sizeof("JOBOBJECT_BASIC_PROCESS_ID_LIST") + ffi.sizeof("ULONG_PTR") * capacity
            buffer = ffi.new("char[]", size)
            listing = ffi.cast("JOBOBJECT_BASIC_PROCESS_ID_LIST *", buffer)
            k32.QueryInformationJobObject(self.handle, PROCESS_ID_LIST, listing, size)
            if listing.NumberOfAssignedProcesses <= listing.NumberOfProcessIdsInList:
                # Read the ids through a pointer of their own: indexing the
                # one-element array member past [0] was seen to return only one.
                ids = ffi.cast("ULONG_PTR *", ffi.addressof(listing, "ProcessIdList"))
                return [int(ids[i]) for i in range(listing.NumberOfProcessIdsInList)]
            capacity = listing.NumberOfAssignedProcesses + 16

    def accounting(self) -> JobAccounting:
        """CPU times (seconds), process counts and peak job memory."""
        info = ffi.new("JOBOBJECT_BASIC_ACCOUNTING_INFORMATION *")
        k32.QueryInformationJobObject(self.handle, BASIC_ACCOUNTING, info)
        peak = self._limits().PeakJobMemoryUsed
        return JobAccounting(info.TotalUserTime / 1e7, info.TotalKernelTime / 1e7,
                             info.ActiveProcesses, info.TotalProcesses, peak)

    def attach_port(self, port, key: int) -> None:
        """Send this job's JOB_OBJECT_MSG_* notifications to completion ``port`` with ``key``."""
        info = ffi.new("JOBOBJECT_ASSOCIATE_COMPLETION_PORT *")
        info.CompletionKey = ffi.cast("LPVOID", key)
        info.CompletionPort = port
        k32.SetInformationJobObject(self.handle, ASSOCIATE_COMPLETION_PORT, info)

    def terminate(self, exit_code: int = 1) -> None:
        """Kill every process in the job."""
        k32.TerminateJobObject(self.handle, exit_code)

    def close(self) -> None:
        """Close the handle (kill-on-close then ends every process); idempotent."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            k32.CloseHandle(handle)
