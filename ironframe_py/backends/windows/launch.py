"""Starting a process in a container (tier 2): suspended, assigned to the job, then resumed.

No instruction of the child runs outside the job.  With a container user's
token the process is started by ``CreateProcessWithTokenW`` with
``LOGON_WITH_PROFILE`` -- what IronFrame used.  Host prerequisites on
Windows: the caller holds ``SeImpersonatePrivilege`` (services running as
LocalSystem or an administrator do) and the Secondary Logon service
(``seclogon``) is running.  That call takes at most 1,024 characters of
command line and only a few creation flags (``CREATE_NO_WINDOW`` and
``CREATE_BREAKAWAY_FROM_JOB`` are not among them), and the service starts the
child in a job of its own, so ours must nest inside it: Windows 8 or later,
and no UI limits on either job.  ``CreateProcessAsUserW`` would instead need
``SeAssignPrimaryTokenPrivilege`` and ``SeIncreaseQuotaPrivilege``, and
Wine's fake ``LogonUserW`` token is rejected by it (error 6), so it is not
used.  Without a token (tests, and hosts that run containers as the
service's own user) the process is started with ``CreateProcessW``.

Standard handles: the child gets ``NUL`` where this process has no stream
(a service without a console, where the C runtime answers -2 -- which is
also ``GetCurrentThread()``'s pseudo-handle); any other handle that is not
a file, pipe or character device is refused.

A host that itself runs inside a job (a CI runner, a service wrapper):
Windows 8+ nests our job inside the host's, so assignment simply works;
where it does not (older Windows, a host job that forbids it) a launch
without a token is retried once with ``CREATE_BREAKAWAY_FROM_JOB``, which
needs the host job to allow breakaway; otherwise a clear
:class:`~ironframe_py.AccessDenied` says so.  Whether to retry is decided
from the child (``IsProcessInJob(child, NULL)``), not from the host.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..._winerror import ERROR_PRIVILEGE_NOT_HELD
from ...errors import AccessDenied, InvalidState, OSCallError, SpecError
from ._api import REAL, Api
from ._dll import NULL
from ._ffi import C, ffi
from .job import JobObject

# CreateProcessWithTokenW takes only a few creation flags (its page lists them); our own
# CreateProcessW may also keep the child from opening a console window.
TOKEN_LAUNCH_FLAGS = C.CREATE_SUSPENDED | C.CREATE_UNICODE_ENVIRONMENT
LAUNCH_FLAGS = TOKEN_LAUNCH_FLAGS | C.CREATE_NO_WINDOW
MAX_TOKEN_COMMAND_LINE = 1024  # CreateProcessWithTokenW's documented maximum, in characters
NO_STREAM = -2  # _get_osfhandle(0..2) of a process without a console (GetCurrentThread()'s value)
STD_NAMES = ("stdin", "stdout", "stderr")
# A failure of these means "no job lists on this Windows" (before 10), not a failed launch.
ATTRIBUTE_CALLS = ("InitializeProcThreadAttributeList", "UpdateProcThreadAttribute")
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


def _std_handles(fds: Sequence[int | None], api: Api) -> tuple[list, list]:
    """OS handles for the child's stdin/stdout/stderr from C runtime fds (``None``: ours),
    and the ``NUL`` handles opened for streams this process does not have (close them)."""
    handles, opened = [], []
    try:
        for index, fd in enumerate(fds):
            value = api.crt.get_osfhandle(fd if fd is not None else index)
            if value == NO_STREAM and (fd is None or fd == index):
                nul = api.kernel32.CreateFile("NUL", C.GENERIC_READ | C.GENERIC_WRITE,
                                              C.FILE_SHARE_READ | C.FILE_SHARE_WRITE,
                                              C.OPEN_EXISTING, 0)
                opened.append(nul)
                handles.append(nul)
                continue
            handle = ffi.cast("HANDLE", value)
            check_std_handle(STD_NAMES[index], handle, api)
            handles.append(handle)
    except BaseException:
        for handle in opened:
            api.kernel32.CloseHandle(handle)
        raise
    return handles, opened


def check_std_handle(name: str, handle, api: Api) -> None:
    """Raise :class:`SpecError` unless ``handle`` is a file, pipe or character device: a
    thread, process or pseudo-handle must never be handed to the container."""
    value = int(ffi.cast("intptr_t", handle))
    if value <= 0 or api.kernel32.GetFileType(handle) == C.FILE_TYPE_UNKNOWN:
        raise SpecError(name, "must be a file, pipe or character device handle "
                        "(this one is none; a service without a console has no std handles)",
                        value)


def _startup(handles) -> object:
    startup = ffi.new("STARTUPINFOW *")
    startup.cb = ffi.sizeof("STARTUPINFOW")
    startup.dwFlags = C.STARTF_USESTDHANDLES
    startup.hStdInput, startup.hStdOutput, startup.hStdError = handles
    return startup


def _create(api: Api, token, line: str, env_block, cwd: str, handles, flags: int, *,
            jobs=(), as_user: bool = False):
    """``PROCESS_INFORMATION`` of a suspended process, with inheritable copies of ``handles``;
    with ``jobs`` it starts in them (``CreateProcessW``/``CreateProcessAsUserW`` only)."""
    k32 = api.kernel32
    with _spawn_lock:
        copies = [k32.DuplicateHandle(handle, True) for handle in handles]
        try:
            startup = _startup(copies)
            if token is None:
                return k32.CreateProcess(line, flags, cwd, environment=env_block,
                                         startup=startup, inherit_handles=True, jobs=jobs)
            if as_user:
                return api.advapi32.CreateProcessAsUser(token, line, flags, env_block, cwd,
                                                        startup, True, jobs)
            return api.advapi32.CreateProcessWithToken(token, C.LOGON_WITH_PROFILE, line, flags,
                                                       env_block, cwd, startup)
        finally:
            for copy in copies:
                k32.CloseHandle(copy)


def _start_in_job_directly(api: Api, job: JobObject, create, as_user: bool):
    """The child created inside ``job`` (PROC_THREAD_ATTRIBUTE_JOB_LIST): no moment outside it.
    ``None`` where this Windows (before 10) or the caller's rights do not allow it."""
    try:
        info = create(LAUNCH_FLAGS, jobs=[job.handle])
    except OSCallError as err:
        if err.function in ATTRIBUTE_CALLS or (as_user and err.winerror == ERROR_PRIVILEGE_NOT_HELD):
            return None  # no job lists here, or no SeAssignPrimaryTokenPrivilege: the other way
        raise
    try:
        if not api.kernel32.IsProcessInJob(info.hProcess, job.handle):
            job.assign(info.hProcess)  # an OS that accepted the list without honouring it
    except BaseException:
        _discard(api, info)
        raise
    return info


def _discard(api: Api, info) -> None:
    """Kill and forget a child that never ran (still suspended, or killed by Windows already)."""
    k32 = api.kernel32
    try:
        k32.TerminateProcess(info.hProcess, 1)
    except AccessDenied:
        if k32.GetExitCodeProcess(info.hProcess) == C.STILL_ACTIVE:
            raise  # denied while it still runs: not ours to kill after all
        # else: it has exited (Windows terminates what an active-process limit refuses)
    finally:
        k32.CloseHandle(info.hThread)
        k32.CloseHandle(info.hProcess)


def _in_some_job(api: Api, info) -> bool:
    """Whether the (suspended) child is already in a job: the Secondary Logon service's, or
    the host's job it inherited."""
    try:
        return api.kernel32.IsProcessInJob(info.hProcess, NULL)
    except OSCallError:
        return False  # cannot tell: treat as the plain refusal it most likely is


def _start_in_job(api: Api, job: JobObject, create, with_token: bool) -> Any:
    info = create(TOKEN_LAUNCH_FLAGS if with_token else LAUNCH_FLAGS)
    try:
        job.assign(info.hProcess)
        return info
    except AccessDenied as err:
        nested = _in_some_job(api, info)
        _discard(api, info)
        if nested and with_token:
            err.add_note("the child started in a job of its own (the Secondary Logon service "
                         "puts it there) and Windows refused to nest the container's job in "
                         "it: nesting needs Windows 8 or later, no UI limits on either job, and "
                         "a container job not yet nested elsewhere.  Run the service as "
                         "LocalSystem so that children are created inside the job "
                         "(CreateProcessAsUserW, Windows 10+)")
        if not nested or with_token:
            raise  # CreateProcessWithTokenW cannot break away from a job
        first = err
    except BaseException:
        _discard(api, info)  # any other refusal: the child must not survive suspended
        raise
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
          as_user: bool = False, api: Api = REAL) -> WindowsProcess:
    """Start ``argv`` in ``job``, suspended, then resume it.

    ``stdio`` are C runtime fds for the child's stdin/stdout/stderr (``None``
    passes ours, or ``NUL`` where we have none); ``handles`` may give OS
    handles directly instead.  With ``token`` the process runs as that
    token's user: through ``CreateProcessAsUserW`` if ``as_user`` (the caller
    enabled SeAssignPrimaryTokenPrivilege and SeIncreaseQuotaPrivilege, as
    LocalSystem can), else ``CreateProcessWithTokenW``.  Where it can, the
    child is created inside the job (Windows 10+); otherwise it is created
    suspended and assigned before it runs (see the module docstring).
    """
    line = command_line(argv)
    if token is not None and not as_user and len(line) > MAX_TOKEN_COMMAND_LINE:
        raise SpecError("argv", f"the command line must be at most {MAX_TOKEN_COMMAND_LINE} "
                        "characters when run as the container user (CreateProcessWithTokenW's "
                        "limit)", f"{len(line)} characters")
    if handles is not None:
        std, opened = list(handles), []  # type: list[Any], list[Any]
        for name, handle in zip(STD_NAMES, std):
            check_std_handle(name, handle, api)
    else:
        std, opened = _std_handles(stdio, api)
    env_block = environment_block(env)

    def create(flags: int, jobs=()):
        return _create(api, token, line, env_block, cwd, std, flags, jobs=jobs, as_user=as_user)

    try:
        info: Any = None
        if token is None or as_user:
            info = _start_in_job_directly(api, job, create, as_user)
            if info is None and as_user and len(line) > MAX_TOKEN_COMMAND_LINE:
                raise SpecError("argv", f"the command line must be at most "
                                f"{MAX_TOKEN_COMMAND_LINE} characters when run as the container "
                                "user (CreateProcessWithTokenW's limit)", f"{len(line)} characters")
        if info is None:
            as_user = False  # (read by create) no job list, or no right to it: the seclogon way
            info = _start_in_job(api, job, create, token is not None)
    finally:
        for handle in opened:
            api.kernel32.CloseHandle(handle)
    try:
        api.kernel32.ResumeThread(info.hThread)
    except BaseException:
        _discard(api, info)
        raise
    api.kernel32.CloseHandle(info.hThread)
    return WindowsProcess(info.dwProcessId, info.hProcess, api=api)
