"""Windows Job Object primitive (tier 2): limits, membership, accounting, kill.

Windows 8+ for nested jobs (a host that is itself in a job); CPU rate
control needs Windows 8 / Server 2012.  Setters read, modify and write the
whole ``JOBOBJECT_EXTENDED_LIMIT_INFORMATION`` so that one never undoes
another.  Under Wine, job memory and CPU-rate limits are accepted (CPU rate
even refused with error 87) but not enforced, and limits do not read back;
membership, accounting, termination, kill-on-close and completion-port
messages run for real.
"""

from __future__ import annotations

import dataclasses
import enum

from ..._winerror import ERROR_MORE_DATA
from ...errors import InvalidState, NotFound, OSCallError
from ._api import REAL, Api
from ._ffi import C, ffi

JOB_OBJECT_QUERY = 0x0004
JOB_OBJECT_TERMINATE = 0x0008
JOB_OBJECT_ALL_ACCESS = 0x001F001F
CPU_RATE_FULL = 10_000  # CpuRate is in 1/100 of a percent of the whole machine


class LimitFlag(enum.IntFlag):
    """``JOB_OBJECT_LIMIT_*`` flags this package sets."""

    ACTIVE_PROCESS = C.JOB_OBJECT_LIMIT_ACTIVE_PROCESS
    PROCESS_MEMORY = C.JOB_OBJECT_LIMIT_PROCESS_MEMORY
    JOB_MEMORY = C.JOB_OBJECT_LIMIT_JOB_MEMORY
    DIE_ON_UNHANDLED_EXCEPTION = C.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
    BREAKAWAY_OK = C.JOB_OBJECT_LIMIT_BREAKAWAY_OK
    SILENT_BREAKAWAY_OK = C.JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK
    KILL_ON_JOB_CLOSE = C.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE


@dataclasses.dataclass(frozen=True)
class JobAccounting:
    """Totals of a job: CPU seconds, processes, and peak memory."""

    user_time: float
    kernel_time: float
    active_processes: int
    total_processes: int
    peak_job_memory: int


def cpu_rate_for(cores: float, cpu_count: int) -> int:
    """The ``CpuRate`` (1..10000, hundredths of a percent of all CPUs) for a cap of ``cores``."""
    return max(1, min(CPU_RATE_FULL, round(cores / cpu_count * CPU_RATE_FULL)))


def weight_for(cpu_weight: int) -> int:
    """The job ``Weight`` (1..9, 5 is the default) for a cgroup-style weight (1..10000, 100 default).

    Log scale, so that 100 -> 5, 10000 -> 9 and 1 -> 1, as cgroup weights are ratios.
    """
    import math

    return max(1, min(9, round(5 + 2 * math.log10(cpu_weight / 100))))


class JobObject:
    """One Job Object handle; ``close()`` kills everything in it when kill-on-close is set."""

    def __init__(self, name: str | None = None, *, api: Api = REAL, _handle=None) -> None:
        self.name = name
        self._api = api
        self._handle = _handle if _handle is not None else api.kernel32.CreateJobObject(name)
        self._written = None  # the extended limits as we last set them

    @classmethod
    def open(cls, name: str, *, api: Api = REAL) -> JobObject:
        """Open an existing named job (:class:`NotFound` if there is none)."""
        return cls(name, api=api, _handle=api.kernel32.OpenJobObject(JOB_OBJECT_ALL_ACCESS, name))

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return f"<JobObject {self.name or '(anonymous)'} {state}>"

    @property
    def handle(self):
        """The job's HANDLE; :class:`InvalidState` once closed."""
        if self._handle is None:
            raise InvalidState("closed", "use the job object")
        return self._handle

    # --- limits --------------------------------------------------------------------------------

    def _query_limits(self):
        info = ffi.new("JOBOBJECT_EXTENDED_LIMIT_INFORMATION *")
        self._api.kernel32.QueryInformationJobObject(self.handle, C.JobObjectExtendedLimitInformation,
                                                     info)
        return info

    def set_limits(self, *, job_memory: int | None = None, process_memory: int | None = None,
                   active_processes: int | None = None, kill_on_close: bool | None = None,
                   die_on_unhandled_exception: bool | None = None) -> None:
        """Change the given limits, leaving every other one as it is.

        ``0`` removes a memory or process limit.  The base is the struct as we
        last wrote it (else as the kernel reports it): Wine answers the query
        with zeros, which would make each setter undo the previous ones; on
        Windows the two agree.
        """
        info = ffi.new("JOBOBJECT_EXTENDED_LIMIT_INFORMATION *")
        info[0] = self._written[0] if self._written is not None else self._query_limits()[0]
        basic = info.BasicLimitInformation
        if job_memory is not None:
            info.JobMemoryLimit = job_memory
            basic.LimitFlags = _flag(basic.LimitFlags, LimitFlag.JOB_MEMORY, job_memory > 0)
        if process_memory is not None:
            info.ProcessMemoryLimit = process_memory
            basic.LimitFlags = _flag(basic.LimitFlags, LimitFlag.PROCESS_MEMORY, process_memory > 0)
        if active_processes is not None:
            basic.ActiveProcessLimit = active_processes
            basic.LimitFlags = _flag(basic.LimitFlags, LimitFlag.ACTIVE_PROCESS, active_processes > 0)
        if kill_on_close is not None:
            basic.LimitFlags = _flag(basic.LimitFlags, LimitFlag.KILL_ON_JOB_CLOSE, kill_on_close)
        if die_on_unhandled_exception is not None:
            basic.LimitFlags = _flag(basic.LimitFlags, LimitFlag.DIE_ON_UNHANDLED_EXCEPTION,
                                     die_on_unhandled_exception)
        self._api.kernel32.SetInformationJobObject(self.handle, C.JobObjectExtendedLimitInformation,
                                                   info)
        self._written = info

    def set_cpu_rate(self, *, hard_cap: int | None = None, weight: int | None = None) -> None:
        """A hard cap (``CpuRate`` 1..10000) or a relative weight (1..9); neither removes control.

        Windows allows one of the two per job.  Wine refuses this call (error 87).
        """
        if hard_cap is not None and weight is not None:
            raise ValueError("a job has either a CPU hard cap or a weight, not both")
        info = ffi.new("JOBOBJECT_CPU_RATE_CONTROL_INFORMATION *")
        if hard_cap is not None:
            info.ControlFlags = (C.JOB_OBJECT_CPU_RATE_CONTROL_ENABLE
                                 | C.JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP)
            info.CpuRate = hard_cap
        elif weight is not None:
            info.ControlFlags = (C.JOB_OBJECT_CPU_RATE_CONTROL_ENABLE
                                 | C.JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED)
            info.Weight = weight
        self._api.kernel32.SetInformationJobObject(self.handle, C.JobObjectCpuRateControlInformation,
                                                   info)

    # --- membership and accounting ----------------------------------------------------------------

    def assign(self, process) -> None:
        """Put a process (handle) in the job."""
        self._api.kernel32.AssignProcessToJobObject(self.handle, process)

    def pids(self) -> list[int]:
        """Ids of the processes in the job (ask; on ERROR_MORE_DATA grow the list and ask again).

        A list too short for every id fails with ERROR_MORE_DATA, having filled
        ``NumberOfAssignedProcesses``; processes may join between two asks, so
        the list is grown with room to spare until one answer fits.
        """
        capacity = 64
        while True:
            size = ffi.sizeof("JOBOBJECT_BASIC_PROCESS_ID_LIST") + ffi.sizeof("ULONG_PTR") * capacity
            buffer = ffi.new("char[]", size)
            listing = ffi.cast("JOBOBJECT_BASIC_PROCESS_ID_LIST *", buffer)
            try:
                self._api.kernel32.QueryInformationJobObject(
                    self.handle, C.JobObjectBasicProcessIdList, listing, size)
            except OSCallError as err:
                if err.winerror != ERROR_MORE_DATA:
                    raise
                capacity = max(capacity * 2, listing.NumberOfAssignedProcesses + 16)
                continue
            if listing.NumberOfAssignedProcesses <= listing.NumberOfProcessIdsInList:
                # Read the ids through a pointer of their own: indexing the
                # one-element array member past [0] was seen to return only one.
                ids = ffi.cast("ULONG_PTR *", ffi.addressof(listing, "ProcessIdList"))
                return [int(ids[i]) for i in range(listing.NumberOfProcessIdsInList)]
            capacity = max(capacity * 2, listing.NumberOfAssignedProcesses + 16)

    def accounting(self) -> JobAccounting:
        """CPU times (seconds), process counts and peak job memory."""
        info = ffi.new("JOBOBJECT_BASIC_ACCOUNTING_INFORMATION *")
        self._api.kernel32.QueryInformationJobObject(self.handle,
                                                     C.JobObjectBasicAccountingInformation, info)
        peak = self._query_limits().PeakJobMemoryUsed
        return JobAccounting(info.TotalUserTime / 1e7, info.TotalKernelTime / 1e7,
                             info.ActiveProcesses, info.TotalProcesses, peak)

    # --- ending --------------------------------------------------------------------------------------

    def terminate(self, exit_code: int = 1) -> None:
        """Kill every process in the job."""
        self._api.kernel32.TerminateJobObject(self.handle, exit_code)

    def close(self) -> None:
        """Close the handle (kill-on-close then ends every process); idempotent."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._api.kernel32.CloseHandle(handle)


def terminate_named(name: str, exit_code: int = 1, *, api: Api = REAL) -> bool:
    """Kill every process of the job called ``name``; ``False`` if no such job exists."""
    try:
        job = JobObject.open(name, api=api)
    except NotFound:
        return False
    try:
        job.terminate(exit_code)
    finally:
        job.close()
    return True


def _flag(flags: int, flag: int, on: bool) -> int:
    return flags | flag if on else flags & ~flag
