"""kernel32: checked calls for Job Objects, processes, handles and completion ports.

Each function keeps the Win32 name without its A/W suffix, converts
arguments (``str`` -> UTF-16), applies the call's failure convention and
returns plain Python values or cffi handles.  No policy lives here.
"""

from __future__ import annotations

from .._dll import NULL, check_lasterror, dll, wide
from .._ffi import ffi


def _k32():
    return dll("kernel32.dll")


def CreateJobObject(name: str | None = None):
    """https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-createjobobjectw"""
    return check_lasterror("CreateJobObjectW", _k32().CreateJobObjectW(NULL, wide(name)), NULL, name)


def SetInformationJobObject(job, info_class: int, info) -> None:
    """https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-setinformationjobobject"""
    check_lasterror("SetInformationJobObject",
                    _k32().SetInformationJobObject(job, info_class, info, ffi.sizeof(info[0])))


def QueryInformationJobObject(job, info_class: int, info, size: int | None = None) -> int:
    """Fill ``info``; return the bytes written.
    https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-queryinformationjobobject"""
    written = ffi.new("DWORD *")
    length = ffi.sizeof(info[0]) if size is None else size
    check_lasterror("QueryInformationJobObject",
                    _k32().QueryInformationJobObject(job, info_class, info, length, written))
    return written[0]


def AssignProcessToJobObject(job, process) -> None:
    """https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-assignprocesstojobobject"""
    check_lasterror("AssignProcessToJobObject", _k32().AssignProcessToJobObject(job, process))


def TerminateJobObject(job, exit_code: int) -> None:
    """https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-terminatejobobject"""
    check_lasterror("TerminateJobObject", _k32().TerminateJobObject(job, exit_code))


def IsProcessInJob(process, job) -> bool:
    """https://learn.microsoft.com/windows/win32/api/jobapi/nf-jobapi-isprocessinjob"""
    result = ffi.new("BOOL *")
    check_lasterror("IsProcessInJob", _k32().IsProcessInJob(process, job, result))
    return bool(result[0])


def CreateIoCompletionPort():
    """A new completion port, not yet associated with anything.
    https://learn.microsoft.com/windows/win32/fileio/createiocompletionport"""
    invalid = ffi.cast("HANDLE", -1)
    return check_lasterror("CreateIoCompletionPort",
                           _k32().CreateIoCompletionPort(invalid, NULL, 0, 1), NULL)


def GetQueuedCompletionStatus(port, timeout_ms: int) -> tuple[int, int, int] | None:
    """``(message, key, value)`` of the next packet, or ``None`` on timeout.
    https://learn.microsoft.com/windows/win32/api/ioapiset/nf-ioapiset-getqueuedcompletionstatus"""
    message, key = ffi.new("DWORD *"), ffi.new("ULONG_PTR *")
    overlapped = ffi.new("OVERLAPPED **")
    if not _k32().GetQueuedCompletionStatus(port, message, key, overlapped, timeout_ms):
        code, text = ffi.getwinerror()
        if code == 258:  # WAIT_TIMEOUT
            return None
        from ...errors import os_error

        raise os_error("GetQueuedCompletionStatus", winerror=code, strerror=text)
    return message[0], key[0], int(ffi.cast("uintptr_t", overlapped[0]))


def OpenProcess(access: int, pid: int):
    """https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-openprocess"""
    return check_lasterror("OpenProcess", _k32().OpenProcess(access, 0, pid), NULL, str(pid))


def TerminateProcess(process, exit_code: int) -> None:
    """https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-terminateprocess"""
    check_lasterror("TerminateProcess", _k32().TerminateProcess(process, exit_code))


def GetExitCodeProcess(process) -> int:
    """259 (STILL_ACTIVE) while it runs.
    https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-getexitcodeprocess"""
    code = ffi.new("DWORD *")
    check_lasterror("GetExitCodeProcess", _k32().GetExitCodeProcess(process, code))
    return code[0]


def WaitForSingleObject(handle, timeout_ms: int) -> int:
    """WAIT_OBJECT_0 or WAIT_TIMEOUT.
    https://learn.microsoft.com/windows/win32/api/synchapi/nf-synchapi-waitforsingleobject"""
    return check_lasterror("WaitForSingleObject", _k32().WaitForSingleObject(handle, timeout_ms),
                           0xFFFFFFFF)


def ResumeThread(thread) -> int:
    """https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-resumethread"""
    return check_lasterror("ResumeThread", _k32().ResumeThread(thread), 0xFFFFFFFF)


def CloseHandle(handle) -> None:
    """https://learn.microsoft.com/windows/win32/api/handleapi/nf-handleapi-closehandle"""
    check_lasterror("CloseHandle", _k32().CloseHandle(handle))


def GetProcessMemoryInfo(process):
    """``PROCESS_MEMORY_COUNTERS_EX`` of a process (read PagefileUsage: Wine reports
    PrivateUsage as 0).  https://learn.microsoft.com/windows/win32/api/psapi/nf-psapi-getprocessmemoryinfo"""
    counters = ffi.new("PROCESS_MEMORY_COUNTERS_EX *")
    counters.cb = ffi.sizeof("PROCESS_MEMORY_COUNTERS_EX")
    check_lasterror("K32GetProcessMemoryInfo", _k32().K32GetProcessMemoryInfo(
        process, ffi.cast("PROCESS_MEMORY_COUNTERS *", counters), counters.cb))
    return counters


def CreateProcess(command_line: str, flags: int, cwd: str | None = None):
    """Start a process (as the caller); returns ``PROCESS_INFORMATION``.
    https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw"""
    startup = ffi.new("STARTUPINFOW *")
    startup.cb = ffi.sizeof("STARTUPINFOW")
    info = ffi.new("PROCESS_INFORMATION *")
    check_lasterror("CreateProcessW", _k32().CreateProcessW(
        NULL, wide(command_line), NULL, NULL, 0, flags, NULL, wide(cwd), startup, info),
        target=command_line)
    return info
