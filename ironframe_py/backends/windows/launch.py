"""Starting a process in a container (tier 2): suspended, assigned to the job, then resumed.

No instruction of the child runs outside the job.  With a container user's
token the process is started by ``CreateProcessWithTokenW`` with
``LOGON_WITH_PROFILE`` -- what IronFrame used.  Host prerequisites on
Windows: the caller holds ``SeImpersonatePrivilege`` (services running as
LocalSystem or an administrator do) and the Secondary Logon service
(``seclogon``) is running.  ``CreateProcessAsUserW`` would instead need
``SeAssignPrimaryTokenPrivilege`` and ``SeIncreaseQuotaPrivilege``, and
Wine's fake ``LogonUserW`` token is rejected by it (error 6), so it is not
used.  Without a token (tests, and hosts that run containers as the
service's own user) the process is started with ``CreateProcessW``.

A host that itself runs inside a job (a CI runner, a service wrapper):
Windows 8+ nests our job inside the host's, so assignment simply works;
where it does not (older Windows, a host job that forbids it) the launch is
retried once with ``CREATE_BREAKAWAY_FROM_JOB``, which needs the host job to
allow breakaway; otherwise a clear :class:`~ironframe_py.AccessDenied`
says so.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence

from ...errors import AccessDenied, InvalidState
from ._api import REAL, Api
from ._dll import NULL
from ._ffi import C, ffi
from .job import JobObject

LAUNCH_FLAGS = C.CREATE_SUSPENDED | C.CREATE_UNICODE_ENVIRONMENT | C.CREATE_NO_WINDOW
_spawn_lock = threading.Lock()  # inheritable handles exist only while we hold it


def command_line(argv: Sequence[str]) -> str:
    """The Windows command line for ``argv`` (MSVCRT quoting rules, as ``subprocess`` uses)."""
    return subprocess.list2cmdline(list(argv))


def environment_block(env: Mapping[str, str]):
    """A ``CREATE_UNICODE_ENVIRONMENT`` block: ``NAME=value\\0`` entries sorted case-insensitively
    (Windows expects the order), then a final ``\\0``."""
    text = "".join(f"{name}={value}\0" for name, value in
                   sorted(env.items(), key=lambda item: item[0].upper())) + "\0"
    units = text.encode("utf-16-le")
    block = ffi.new("char[]", len(units))
    ffi.memmove(block, units, len(units))
    return block


def host_in_job(api: Api = REAL) -> bool:
    """True if this process already runs inside some job."""
    return api.kernel32.IsProcessInJob(api.kernel32.GetCurrentProcess(), NULL)


class WindowsProcess:
    """A process started in a container: the ``ProcessHandle`` of :mod:`..base` for Windows.

    Holds the process handle (so the pid cannot be reused while we hold it);
    ``close()`` releases it and is idempotent.
    """

    def __init__(self, pid: int, handle, *, api: Api = REAL) -> None:
        self.pid = pid
        self.stdin_fd: int | None = None
        self.stdout_fd: int | None = None
        self.stderr_fd: int | None = None
        self.returncode: int | None = None
        self._handle = handle
        self._api = api

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return f"<WindowsProcess pid={self.pid} {state}>"

    @property
    def handle(self):
        """The process HANDLE; :class:`InvalidState` once closed."""
        if self._handle is None:
            raise InvalidState("closed", "use the process handle")
        return self._handle

    def wait(self, timeout: float | None) -> int | None:
        """The exit code, waiting up to ``timeout`` seconds (``None``: forever); ``None`` if still running."""
        if self.returncode is not None:
            return self.returncode
        milliseconds = C.INFINITE if timeout is None else max(0, int(timeout * 1000))
        if self._api.kernel32.WaitForSingleObject(self.handle, milliseconds) == C.WAIT_TIMEOUT:
            return None
        self.returncode = self._api.kernel32.GetExitCodeProcess(self.handle)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """Windows has no signals: any ``sig`` terminates the process (exit code 1)."""
        if self.wait(0) is not None:
            return
        try:
            self._api.kernel32.TerminateProcess(self.handle, 1)
        except AccessDenied:
            if self.wait(0) is None:  # "denied" is also the answer for a process that just exited
                raise

    def close(self) -> None:
        """Release the process handle; idempotent."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._api.kernel32.CloseHandle(handle)


def _std_handles(fds: Sequence[int | None]) -> list:
    """OS handles for the child's stdin/stdout/stderr from C runtime fds (``None``: ours)."""
    import msvcrt  # Windows only; imported here so this module imports on Linux

    return [ffi.cast("HANDLE", msvcrt.get_osfhandle(fd if fd is not None else index))
            for index, fd in enumerate(fds)]


def _startup(handles) -> object:
    startup = ffi.new("STARTUPINFOW *")
    startup.cb = ffi.sizeof("STARTUPINFOW")
    startup.dwFlags = C.STARTF_USESTDHANDLES
    startup.hStdInput, startup.hStdOutput, startup.hStdError = handles
    return startup


def _create(api: Api, token, argv: Sequence[str], env_block, cwd: str, handles, flags: int):
    """``PROCESS_INFORMATION`` of a suspended process, with inheritable copies of ``handles``."""
    k32 = api.kernel32
    with _spawn_lock:
        copies = [k32.DuplicateHandle(handle, True) for handle in handles]
        try:
            startup = _startup(copies)
            if token is None:
                return k32.CreateProcess(command_line(argv), flags, cwd, environment=env_block,
                                         startup=startup, inherit_handles=True)
            return api.advapi32.CreateProcessWithToken(token, C.LOGON_WITH_PROFILE,
                                                       command_line(argv), flags, env_block, cwd,
                                                       startup)
        finally:
            for copy in copies:
                k32.CloseHandle(copy)


def _discard(api: Api, info) -> None:
    """Kill and forget a child that never ran (still suspended)."""
    try:
        api.kernel32.TerminateProcess(info.hProcess, 1)
    finally:
        api.kernel32.CloseHandle(info.hThread)
        api.kernel32.CloseHandle(info.hProcess)


def _start_in_job(api: Api, job: JobObject, create) -> object:
    info = create(LAUNCH_FLAGS)
    try:
        job.assign(info.hProcess)
        return info
    except AccessDenied as err:
        _discard(api, info)
        if not host_in_job(api):
            raise
        first = err
    # The host's job refused nesting: break away from it (needs BREAKAWAY_OK there).
    try:
        info = create(LAUNCH_FLAGS | C.CREATE_BREAKAWAY_FROM_JOB)
    except AccessDenied as err:
        err.add_note("this host runs inside a job that allows neither nested jobs "
                     "(Windows 8+) nor breakaway (JOB_OBJECT_LIMIT_BREAKAWAY_OK)")
        raise err from first
    try:
        job.assign(info.hProcess)
    except BaseException:
        _discard(api, info)
        raise
    return info


def spawn(job: JobObject, argv: Sequence[str], env: Mapping[str, str], cwd: str,
          stdio: Sequence[int | None] = (None, None, None), *, token=None, handles=None,
          api: Api = REAL) -> WindowsProcess:
    """Start ``argv`` in ``job``: created suspended, assigned, then resumed.

    ``stdio`` are C runtime fds for the child's stdin/stdout/stderr (``None``
    passes ours); ``handles`` may give OS handles directly instead.  With
    ``token`` the process runs as that token's user (see the module docstring).
    """
    std = list(handles) if handles is not None else _std_handles(stdio)
    env_block = environment_block(env)

    def create(flags: int):
        return _create(api, token, argv, env_block, cwd, std, flags)

    info = _start_in_job(api, job, create)
    try:
        api.kernel32.ResumeThread(info.hThread)
    except BaseException:
        _discard(api, info)
        raise
    api.kernel32.CloseHandle(info.hThread)
    return WindowsProcess(info.dwProcessId, info.hProcess, api=api)
