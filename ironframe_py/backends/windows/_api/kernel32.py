"""kernel32: checked calls for Job Objects, processes, handles and completion ports.

Each function keeps the Win32 name without its A/W suffix, converts
arguments (``str`` -> UTF-16), applies the call's failure convention and
returns plain Python values or cffi handles.  No policy lives here.
"""

from __future__ import annotations

import contextlib

from ....errors import os_error
from .._dll import INVALID_HANDLE_VALUE, NULL, check_lasterror, dll, text_of, wide
from .._ffi import C, ffi


def _k32():
    return dll("kernel32.dll")


def CreateJobObject(name: str | None = None):
    """https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-createjobobjectw"""
    return check_lasterror("CreateJobObjectW", _k32().CreateJobObjectW(NULL, wide(name)), NULL, name)


def OpenJobObject(access: int, name: str):
    """A handle to the existing job called ``name`` (ERROR_FILE_NOT_FOUND if none).
    https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-openjobobjectw"""
    return check_lasterror("OpenJobObjectW", _k32().OpenJobObjectW(access, 0, wide(name)), NULL, name)


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


def IsProcessInJob(process, job=NULL) -> bool:
    """In ``job`` -- or, with ``job`` NULL, in any job.
    https://learn.microsoft.com/windows/win32/api/jobapi/nf-jobapi-isprocessinjob"""
    result = ffi.new("BOOL *")
    check_lasterror("IsProcessInJob", _k32().IsProcessInJob(process, job, result))
    return bool(result[0])


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


def CreateProcess(command_line: str, flags: int, cwd: str | None = None, *, environment=NULL,
                  startup=None, inherit_handles: bool = False, jobs=()):
    """Start a process (as the caller); returns ``PROCESS_INFORMATION``.  With ``jobs`` (job
    handles) the child starts in them (PROC_THREAD_ATTRIBUTE_JOB_LIST, Windows 10+).
    https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw"""
    if startup is None:
        startup = ffi.new("STARTUPINFOW *")
        startup.cb = ffi.sizeof("STARTUPINFOW")
    info = ffi.new("PROCESS_INFORMATION *")
    with startup_with_jobs(startup, jobs) as (extended, extra_flags):
        check_lasterror("CreateProcessW", _k32().CreateProcessW(
            NULL, wide(command_line), NULL, NULL, int(inherit_handles), flags | extra_flags,
            environment, wide(cwd), extended, info), target=command_line)
    return info


@contextlib.contextmanager
def startup_with_jobs(startup, jobs):
    """``(STARTUPINFOW *, extra creation flags)`` for a child that starts in ``jobs``: a
    ``STARTUPINFOEXW`` carrying a PROC_THREAD_ATTRIBUTE_JOB_LIST (freed afterwards), or
    ``startup`` itself when ``jobs`` is empty.
    https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-updateprocthreadattribute"""
    jobs = list(jobs)
    if not jobs:
        yield startup, 0
        return
    size = ffi.new("SIZE_T *")
    _k32().InitializeProcThreadAttributeList(NULL, 1, 0, size)  # fails, telling the size
    buffer = ffi.new("char[]", size[0])
    attributes = ffi.cast("LPPROC_THREAD_ATTRIBUTE_LIST", buffer)
    check_lasterror("InitializeProcThreadAttributeList",
                    _k32().InitializeProcThreadAttributeList(attributes, 1, 0, size))
    try:
        handles = ffi.new("HANDLE[]", jobs)  # must outlive the create call
        check_lasterror("UpdateProcThreadAttribute", _k32().UpdateProcThreadAttribute(
            attributes, 0, C.PROC_THREAD_ATTRIBUTE_JOB_LIST, handles, ffi.sizeof(handles), NULL,
            NULL))
        extended = ffi.new("STARTUPINFOEXW *")
        extended.StartupInfo = startup[0]
        extended.StartupInfo.cb = ffi.sizeof("STARTUPINFOEXW")
        extended.lpAttributeList = attributes
        yield ffi.cast("STARTUPINFOW *", extended), C.EXTENDED_STARTUPINFO_PRESENT
    finally:
        _k32().DeleteProcThreadAttributeList(attributes)


def GetCurrentProcess():
    """The pseudo-handle of this process (never fails, never closed).
    https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentprocess"""
    return _k32().GetCurrentProcess()


def GetProcessId(process) -> int:
    """https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-getprocessid"""
    return check_lasterror("GetProcessId", _k32().GetProcessId(process))


def DuplicateHandle(handle, inherit: bool):
    """A duplicate of one of this process's handles, with the same access.
    https://learn.microsoft.com/windows/win32/api/handleapi/nf-handleapi-duplicatehandle"""
    target = ffi.new("HANDLE *")
    me = _k32().GetCurrentProcess()
    check_lasterror("DuplicateHandle", _k32().DuplicateHandle(
        me, handle, me, target, 0, int(inherit), 0x00000002))  # DUPLICATE_SAME_ACCESS
    return target[0]


def LocalFree(memory) -> None:
    """Free memory the system allocated for us (it returns NULL on success).
    https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-localfree"""
    if memory != NULL:
        if _k32().LocalFree(memory) != NULL:
            code, text = ffi.getwinerror()
            raise os_error("LocalFree", winerror=code, strerror=text)


def CreateFile(path: str, access: int, share: int, disposition: int, flags: int):
    """Open a file, directory or volume; fails on INVALID_HANDLE_VALUE, not NULL.
    https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew"""
    return check_lasterror("CreateFileW", _k32().CreateFileW(
        wide(path), access, share, NULL, disposition, flags, NULL), INVALID_HANDLE_VALUE, path)


def GetFileType(handle) -> int:
    """``FILE_TYPE_DISK``, ``_CHAR``, ``_PIPE``, or ``FILE_TYPE_UNKNOWN`` (0) for a handle that is
    no file at all (a thread, a process); a failed call is raised.
    https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getfiletype"""
    kind = _k32().GetFileType(handle)
    if kind == 0:
        code, text = ffi.getwinerror()
        if code != 0:  # NO_ERROR: a valid handle of unknown type
            raise os_error("GetFileType", winerror=code, strerror=text)
    return kind


def GetVolumePathName(path: str) -> str:
    """The root of the volume holding ``path`` (``C:\\``, or a mount point).
    https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getvolumepathnamew"""
    size = max(len(path) + 2, 261)
    buffer = ffi.new("WCHAR[]", size)
    check_lasterror("GetVolumePathNameW", _k32().GetVolumePathNameW(wide(path), buffer, size),
                    target=path)
    return text_of(buffer)
