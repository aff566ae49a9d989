"""Start processes inside a Linux container (tier 2), and wait for them.

The child is made by the C helper ``ifl_spawn`` (``_csrc/spawn.c``), which,
between ``clone(CLONE_VM | CLONE_VFORK)`` and ``execve``, does in order:

1. reset every signal disposition to the default;
2. join the container's cgroups (writes ``0`` to each ``cgroup.procs``), so
   no user code ever runs outside them;
3. ``setsid()`` -- its own session and process group;
4. drop supplementary groups, then set the gid, then the uid (raw syscalls:
   glibc's wrappers would signal the parent's threads in a shared-memory
   child);
5. ``PR_SET_NO_NEW_PRIVS`` -- no setuid binary can raise it again;
6. ``umask(022)`` and ``chdir(cwd)`` *as the container user*;
7. stdio onto 0/1/2 and every other descriptor closed;
8. ``execve`` with exactly the environment given.

A failure at any step comes back as an :class:`~ironframe_py.OSCallError`
naming the step (``spawn:chdir``, ``spawn:exec``, ...) and its errno.
Python's ``preexec_fn`` would do the same far slower and is unsafe with
threads; this path also never takes the GIL in the child.
"""

from __future__ import annotations

import os
import select
import stat
import threading
from collections.abc import Mapping, Sequence

from ...errors import SpecError, os_error
from ._native import ffi, lib

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

STAGES = {
    lib.IFL_STAGE_CGROUP: "cgroup", lib.IFL_STAGE_SETSID: "setsid",
    lib.IFL_STAGE_SETGROUPS: "setgroups", lib.IFL_STAGE_SETGID: "setgid",
    lib.IFL_STAGE_SETUID: "setuid", lib.IFL_STAGE_NNP: "no_new_privs",
    lib.IFL_STAGE_CHDIR: "chdir", lib.IFL_STAGE_DUP: "dup2", lib.IFL_STAGE_CLOSE: "close",
    lib.IFL_STAGE_EXEC: "exec", lib.IFL_STAGE_CLONE: "clone",
}


def build_env(container_env: Mapping[str, str], process_env: Mapping[str, str],
              home: str) -> dict[str, str]:
    """The child's whole environment: container defaults under the process's own,
    plus ``PATH`` and ``HOME`` when neither gives them.  Nothing comes from the host."""
    env = {"PATH": DEFAULT_PATH, "HOME": home}
    env.update(container_env)
    env.update(process_env)
    return env


def _is_executable_file(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def resolve_executable(argv0: str, env_path: str | None, cwd: str) -> str:
    """The file ``argv0`` names: relative to ``cwd`` when it has a ``/``,
    else the first match on ``env_path``.  Raises :class:`SpecError` for
    ``argv[0]`` when there is no such executable file."""
    if "/" in argv0:
        candidate = argv0 if os.path.isabs(argv0) else os.path.join(cwd, argv0)
        if _is_executable_file(candidate):
            return candidate
        raise SpecError("argv[0]", "must name an existing executable file", argv0)
    for folder in (env_path if env_path is not None else DEFAULT_PATH).split(":"):
        candidate = os.path.join(folder or ".", argv0)
        if not os.path.isabs(candidate):
            candidate = os.path.join(cwd, candidate)
        if _is_executable_file(candidate):
            return candidate
    raise SpecError("argv[0]", "must be an executable found on the process's PATH", argv0)


def _c_strings(items: Sequence[str], keep: list) -> object:
    cells = [ffi.new("char[]", os.fsencode(item)) for item in items]
    keep.extend(cells)
    return ffi.new("char *[]", cells + [ffi.NULL])


def spawn(path: str, argv: Sequence[str], env: Mapping[str, str], cwd: str, uid: int, gid: int,
          cgroup_procs: Sequence[str], stdio: tuple[int, int, int]) -> LinuxProcess:
    """Start ``path`` as ``uid``/``gid`` inside the cgroups whose ``cgroup.procs`` are given."""
    fds = [os.open(procs, os.O_WRONLY | os.O_CLOEXEC) for procs in cgroup_procs]
    try:
        keep: list = []
        args = ffi.new("struct ifl_spawn_args *")
        args.path = c_path = ffi.new("char[]", os.fsencode(path))
        args.argv = c_argv = _c_strings(argv, keep)
        args.envp = c_envp = _c_strings([f"{k}={v}" for k, v in env.items()], keep)
        args.cwd = c_cwd = ffi.new("char[]", os.fsencode(cwd))
        args.stdio = list(stdio)
        args.cgroup_fds = c_fds = ffi.new("int[]", fds or [0])
        args.n_cgroup_fds = len(fds)
        args.uid, args.gid = uid, gid
        result = ffi.new("struct ifl_spawn_result *")
        pid = lib.ifl_spawn(args, result)
        del c_path, c_argv, c_envp, c_cwd, c_fds  # kept alive until here on purpose
    finally:
        for fd in fds:
            os.close(fd)
    if pid < 0:
        stage = STAGES.get(result.stage, str(result.stage))
        target = cwd if stage == "chdir" else (path if stage == "exec" else None)
        raise os_error(f"spawn:{stage}", errno=result.error, target=target)
    return LinuxProcess(pid)


class LinuxProcess:
    """A child started by :func:`spawn`; implements the backend ``ProcessHandle``.

    Waiting uses a pidfd, so ``wait(timeout)`` sleeps in the kernel instead of
    polling.  Signals go to the process group the child leads.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.stdin_fd: int | None = None
        self.stdout_fd: int | None = None
        self.stderr_fd: int | None = None
        self.returncode: int | None = None
        self._pidfd: int | None = os.pidfd_open(pid)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<LinuxProcess pid={self.pid} returncode={self.returncode}>"

    def wait(self, timeout: float | None) -> int | None:
        """The Popen-style status (``-N`` if killed by signal N), or ``None`` on timeout."""
        if self.returncode is not None:
            return self.returncode
        pidfd = self._pidfd
        if pidfd is not None:  # sleep in the kernel, without holding the lock
            poller = select.poll()  # not select(): a busy host has fds above FD_SETSIZE
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(None if timeout is None else max(timeout, 0) * 1000):
                return None
        with self._lock:
            if self.returncode is None:
                _, status = os.waitpid(self.pid, 0)  # it has exited: returns at once
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def send_signal(self, sig: int) -> None:
        """Signal the process's group (it leads its own session); nothing once reaped."""
        with self._lock:
            if self.returncode is not None:
                return
            try:
                os.killpg(self.pid, sig)  # the pid cannot be recycled before we reap it
            except ProcessLookupError:
                return  # the whole group is gone already

    def close(self) -> None:
        """Close the pidfd; idempotent."""
        with self._lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
