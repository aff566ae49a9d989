"""Starting test processes inside a Job Object (shared by the Windows tests)."""

from __future__ import annotations

from ironframe_py.backends.windows._api import kernel32 as k32

CREATE_SUSPENDED = 0x00000004
CREATE_NO_WINDOW = 0x08000000


def start_in(job, command: str):
    """Start suspended, assign to the job, resume: no instruction runs outside the job.
    Returns ``(process handle, pid)``."""
    info = k32.CreateProcess(command, CREATE_SUSPENDED | CREATE_NO_WINDOW)
    try:
        job.assign(info.hProcess)
        k32.ResumeThread(info.hThread)
    finally:
        k32.CloseHandle(info.hThread)
    return info.hProcess, info.dwProcessId
