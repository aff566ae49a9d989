"""Start processes inside a Linux container, and wait for them (tier 2).

The child is made by the C helper ``ifl_spawn`` (``_csrc/spawn.c``), which
runs ``clone(CLONE_VM | CLONE_VFORK)`` with every signal blocked in the
parent, and then in the child, in this order:

1. reset every signal disposition to the default (a host that ignores
   ``SIGPIPE`` must not pass that on); the mask is emptied just before exec;
2. join the container's cgroups by writing ``0`` to each ``cgroup.procs``
   (opened by the parent), so that no instruction of the user's program,
   nor anything it forks, ever runs outside the limits;
3. join the container's namespaces with ``setns`` (files opened by the
   parent, close-on-exec), while still root: IPC, UTS, network, then mount,
   which also moves the root and cwd to the container's mount view;
4. ``setsid()``: its own session and process group, so signals to the
   group reach its children and the host's terminal is out of reach;
5. drop supplementary groups, then set the gid, then the uid: in that
   order because, once the uid is dropped, changing groups is no longer
   allowed.  Raw syscalls: glibc's wrappers would broadcast the change to
   every thread of the *parent*, whose memory the child shares;
6. ``PR_SET_NO_NEW_PRIVS``, so no setuid binary can win the rights back;
7. ``umask(022)`` and ``chdir(cwd)`` *after* dropping privileges, so the
   container user's own rights decide whether it may enter the directory;
8. stdio onto 0/1/2 (sources that are themselves 0..2 handled), then every
   other descriptor closed, whatever its close-on-exec flag;
9. ``execve`` with exactly the environment given.

``CLONE_VFORK`` suspends the calling thread until the exec or the child's
death, so a failed step is reported through shared memory and comes back
as an :class:`~ironframe_py.OSCallError` naming it (``spawn:chdir``,
``spawn:exec``, ...) with its errno.  Python's ``preexec_fn`` does the same
several times slower and is unsafe with threads; this path never takes the
GIL in the child.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import threading
from collections.abc import Mapping, Sequence

from ...errors import ExecutableNotFound, InvalidState, OSCallError, SpecError
from . import _api
from ._native import lib

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
"""``PATH`` of a process whose spec gives none (and the search path for a bare ``argv[0]``)."""


# --- environment and executable -----------------------------------------------------------------


def build_env(container_env: Mapping[str, str], process_env: Mapping[str, str],
              home: str) -> dict[str, str]:
    """The child's whole environment: the container's defaults overlaid by the process's own,
    plus ``PATH`` (:data:`DEFAULT_PATH`) and ``HOME`` (``home``) when neither gives them.

    Nothing is taken from the host's environment.
    """
    env = {"PATH": DEFAULT_PATH, "HOME": home}
    env.update(container_env)
    env.update(process_env)
    return env


def _is_executable_file(path: str) -> bool:
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def resolve_executable(argv0: str, env_path: str | None, cwd: str) -> str:
    """The host path of the program ``argv0`` names.

    With a ``/`` it is a path, relative to ``cwd`` (the host path of the
    working directory) unless absolute; without, the first match in the
    ``:``-separated ``env_path`` (:data:`DEFAULT_PATH` when ``None``; empty
    items mean ``cwd``).  The result is an existing regular file with an
    execute bit, else :class:`SpecError` for ``argv[0]`` is raised.
    """
    if not argv0:
        raise ExecutableNotFound("must name a program (it is empty)", argv0)
    if "/" in argv0:
        candidate = os.path.join(cwd, argv0)  # join keeps an absolute argv0 as is
        if _is_executable_file(candidate):
            return candidate
        raise ExecutableNotFound("a path (it has a '/') must name an existing regular file "
                                 "with an execute bit, relative to the working directory", argv0,
                                 exists=os.path.lexists(candidate))
    seen = False
    for folder in (DEFAULT_PATH if env_path is None else env_path).split(":"):
        candidate = os.path.join(cwd, folder, argv0)
        if _is_executable_file(candidate):
            return candidate
        seen = seen or os.path.lexists(candidate)
    raise ExecutableNotFound("a bare name must be an executable regular file in one of the "
                             "PATH directories of the process's environment", argv0, exists=seen)


# --- spawn -------------------------------------------------------------------------------------


def _env_strings(env: Mapping[str, str]) -> list[str]:
    for name in env:
        if not name or "=" in name:
            raise SpecError("env", "names must be non-empty and contain no '='", name)
    return [f"{name}={value}" for name, value in env.items()]


def spawn(path: str, argv: Sequence[str], env: Mapping[str, str], cwd: str, uid: int, gid: int,
          cgroup_procs_paths: Sequence[str], stdio: tuple[int, int, int],
          ns_paths: Sequence[str] = ()) -> LinuxProcess:
    """Start ``path`` with ``argv`` and exactly ``env`` as ``uid``/``gid`` (no supplementary
    groups) in ``cwd``, inside the cgroups whose ``cgroup.procs`` files are given, with
    ``stdio`` (three open fds) as its 0, 1 and 2, after joining the
    namespaces whose bound nsfs files ``ns_paths`` names (in that order).

    Raises :class:`~ironframe_py.OSCallError` (``spawn:<stage>``) if the child
    could not get as far as running ``path``; see the module docstring.
    """
    if not argv:
        raise SpecError("argv", "must hold at least the program name", list(argv))
    envp = _env_strings(env)
    fds: list[int] = []
    ns_fds: list[int] = []
    try:
        for procs in cgroup_procs_paths:
            fds.append(_api.open_cgroup_procs(procs))
        for ns_path in ns_paths:
            ns_fds.append(_api.open_namespace(ns_path))
        pid = _api.spawn(path, argv, envp, cwd, uid, gid, fds, stdio, cgroup_procs_paths,
                         ns_fds, ns_paths)
    finally:
        for fd in fds + ns_fds:
            os.close(fd)
    return LinuxProcess(pid)


# --- the process handle ------------------------------------------------------------------------

# pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP) exists since Linux 6.9; older kernels say EINVAL.
_group_flag_works = True


def _wait_readable(fd: int, timeout: float | None) -> bool:
    poller = select.poll()  # not select(): a busy host has fds above FD_SETSIZE
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000))


class LinuxProcess:
    """A child started by :func:`spawn`; implements the backend ``ProcessHandle``.

    It holds a pidfd: ``wait(timeout)`` sleeps in the kernel on it instead of
    polling, and signals cannot hit a recycled pid.  Signals go to the
    process group the child leads (it is a session leader), so they reach
    the children it started too.  ``wait`` and ``send_signal`` may be called
    from any thread.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.stdin_fd: int | None = None
        self.stdout_fd: int | None = None
        self.stderr_fd: int | None = None
        self.returncode: int | None = None
        self._pidfd: int | None = _api.pidfd_open(pid)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = (f"returncode={self.returncode}" if self.returncode is not None
                 else "closed" if self._pidfd is None else "running")
        return f"<LinuxProcess pid={self.pid} {state}>"

    def wait(self, timeout: float | None) -> int | None:
        """Wait up to ``timeout`` seconds (``None``: for ever) and reap the process.

        Returns the Popen-style status (the exit code, or ``-N`` if signal
        N killed it), or ``None`` if it is still running at the timeout.
        """
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            if self._pidfd is None:
                raise InvalidState("closed", "wait", f"pid {self.pid} was never reaped")
            # Our own copy: a close() from another thread must not pull the fd out from under poll.
            watched = os.dup(self._pidfd)
        try:
            if not _wait_readable(watched, timeout):
                return None
        finally:
            os.close(watched)
        with self._lock:
            if self.returncode is None:  # the pidfd is readable: waitpid returns at once
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process's group; nothing happens once the process has exited."""
        with self._lock:  # a reap cannot run meanwhile, so the pid stays ours
            if self.returncode is not None:
                return
            if self._pidfd is None:
                raise InvalidState("closed", "send_signal", f"pid {self.pid}")
            try:
                self._signal_group(self._pidfd, sig)
            except OSCallError as err:
                if err.errno != errno.ESRCH:  # ESRCH: the process and its group are gone
                    raise

    def _signal_group(self, pidfd: int, sig: int) -> None:
        global _group_flag_works
        if _group_flag_works:
            try:
                _api.pidfd_send_signal(pidfd, sig, lib.PIDFD_SIGNAL_PROCESS_GROUP,
                                       target=str(self.pid))
                return
            except OSCallError as err:
                if err.errno != errno.EINVAL:
                    raise
                _group_flag_works = False  # kernel before 6.9
        try:
            os.killpg(self.pid, sig)  # still unreaped (we hold the lock): the pgid is ours
        except ProcessLookupError:
            return

    def close(self) -> None:
        """Close the pidfd; idempotent.  Call it after the process has been reaped."""
        with self._lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
