"""Processes in a container: :func:`start` (stdio plumbing + the backend's spawn) and
:class:`ContainerProcess`, a :class:`subprocess.Popen`-like handle on one."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any

from .backends.base import BackendContainer, ProcessHandle
from .spec import DEVNULL, PIPE, STDOUT, ProcessSpec

__all__ = ["ContainerProcess", "start", "reap_abandoned"]

# Handles of processes whose ContainerProcess was dropped before they were waited
# for (as subprocess keeps ``_active``): reaped by the next start() and by
# destroy(), so that none stays a zombie with an open pidfd.
_abandoned: set[ProcessHandle] = set()
_abandoned_lock = threading.Lock()


def reap_abandoned() -> int:
    """Reap every dropped process that has exited; return how many are still running."""
    with _abandoned_lock:
        handles = list(_abandoned)
    for handle in handles:
        try:
            status = handle.wait(0)
        except Exception as err:  # a handle that cannot be waited on any more: give it up
            log.debug("dropping abandoned pid %s: %s", handle.pid, err)
            status = -1
        if status is not None:
            handle.close()
            with _abandoned_lock:
                _abandoned.discard(handle)
    with _abandoned_lock:
        return len(_abandoned)

log = logging.getLogger("ironframe_py")


def start(view: BackendContainer, spec: ProcessSpec, env: Mapping[str, str], *, handle: str,
          on_exit: Callable[[ContainerProcess], None] | None = None) -> ContainerProcess:
    """Start ``spec`` in the container ``view`` (called ``handle``) with ``env``.

    Pipes and ``/dev/null`` are opened here; the child's ends are closed
    once it has started, and every end is closed if the spawn fails.
    """
    if _abandoned:
        reap_abandoned()
    child_fds, parent_fds, to_close = _stdio(spec)
    try:
        process = view.spawn(spec, env, child_fds)
    except BaseException:
        for fd in parent_fds:
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in to_close:
            os.close(fd)
    process.stdin_fd, process.stdout_fd, process.stderr_fd = parent_fds
    log.debug("spawn in %s: pid %d %s", handle, process.pid, list(spec.argv))
    return ContainerProcess(process, tuple(spec.argv), spec.text, on_exit=on_exit)


def _stdio(spec: ProcessSpec) -> tuple[list[int], list[int | None], list[int]]:
    """Child fds for stdin/stdout/stderr, the parent's pipe ends, and fds to close after spawn."""
    child: list[int] = []
    parent: list[int | None] = []
    to_close: list[int] = []
    try:
        for index, value in enumerate((spec.stdin, spec.stdout, spec.stderr)):
            parent_end: int | None = None
            if value is None:
                fd = index
            elif value == PIPE:
                read_end, write_end = os.pipe()
                fd, parent_end = (read_end, write_end) if index == 0 else (write_end, read_end)
                to_close.append(fd)
            elif value == DEVNULL:
                fd = os.open(os.devnull, os.O_RDWR)
                to_close.append(fd)
            elif value == STDOUT and index == 2:
                fd = child[1]
            elif isinstance(value, int):
                fd = value
            else:
                fd = value.fileno()
            child.append(fd)
            parent.append(parent_end)
    except BaseException:  # e.g. EMFILE on the second pipe: close what the first made
        for fd in to_close + [end for end in parent if end is not None]:
            os.close(fd)
        raise
    return child, parent, to_close


class _Pump(threading.Thread):
    """Reads a pipe to EOF (or writes input and closes it) in the background."""

    def __init__(self, stream: IO[Any], data: bytes | str | None = None) -> None:
        super().__init__(daemon=True, name="ironframe-pipe")
        self.stream = stream
        self.data = data
        self.result: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            if self.data is None:
                self.result = self.stream.read()
            else:
                try:
                    if self.data:
                        self.stream.write(self.data)
                except BrokenPipeError:
                    pass  # the child closed its stdin early: as Popen.communicate, not an error
            self.stream.close()
        except BrokenPipeError:
            pass  # close() of a pipe whose reader is gone
        except BaseException as err:  # re-raised in communicate()
            self.error = err


class ContainerProcess:
    """A process started by :meth:`Container.run`.

    Behaves like :class:`subprocess.Popen`: ``pid``, ``returncode``,
    ``poll()``, ``wait(timeout)``, ``communicate(input, timeout)``,
    ``send_signal()``, ``terminate()``, ``kill()`` and the ``stdin`` /
    ``stdout`` / ``stderr`` pipes (``None`` unless the spec asked for
    ``PIPE``).  ``kill()`` and ``terminate()`` signal the process's whole
    process group: the process leads a new session, so this reaches the
    children it did not move elsewhere.  To kill *everything* in the
    container use :meth:`Container.stop`.
    """

    def __init__(self, handle: ProcessHandle, args: tuple[str, ...], text: bool,
                 on_exit: Callable[[ContainerProcess], None] | None = None) -> None:
        self._handle = handle
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self._pumps: dict[str, _Pump] | None = None
        self.args = args
        self.pid: int = handle.pid
        self.returncode: int | None = None
        self.stdin = _wrap(handle.stdin_fd, "wb", text)
        self.stdout = _wrap(handle.stdout_fd, "rb", text)
        self.stderr = _wrap(handle.stderr_fd, "rb", text)

    def __repr__(self) -> str:
        return f"<ContainerProcess pid={self.pid} returncode={self.returncode} args={list(self.args)!r}>"

    def poll(self) -> int | None:
        """Return the exit status if the process has ended, else ``None``."""
        return self._wait(0)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end; raise :class:`subprocess.TimeoutExpired` on timeout."""
        status = self._wait(timeout)
        if status is None:
            assert timeout is not None, "a wait without a timeout returns only when the process has ended"
            raise subprocess.TimeoutExpired(list(self.args), timeout)
        return status

    def _wait(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        status = self._handle.wait(timeout)
        if status is None:
            return None
        with self._lock:
            first = self.returncode is None
            self.returncode = status
        if first:
            self._handle.close()
            if self._on_exit is not None:
                self._on_exit(self)
        return status

    def communicate(self, input: bytes | str | None = None,
                    timeout: float | None = None) -> tuple[Any, Any]:
        """Send ``input``, read stdout/stderr to EOF and wait, like :meth:`Popen.communicate`."""
        if self._pumps is None:
            self._pumps = {}
            if self.stdin is not None:
                empty: bytes | str = "" if isinstance(self.stdin, io.TextIOBase) else b""
                self._pumps["stdin"] = _Pump(self.stdin, input if input is not None else empty)
            for name in ("stdout", "stderr"):
                stream = getattr(self, name)
                if stream is not None:
                    self._pumps[name] = _Pump(stream)
        for pump in self._pumps.values():
            pump.join(timeout)
            if pump.is_alive():
                assert timeout is not None, "a join without a timeout returns only when the pump has ended"
                raise subprocess.TimeoutExpired(list(self.args), timeout)
        for pump in self._pumps.values():
            if pump.error is not None:
                raise pump.error
        self.wait(timeout)
        out = self._pumps["stdout"].result if "stdout" in self._pumps else None
        err = self._pumps["stderr"].result if "stderr" in self._pumps else None
        return out, err

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process (nothing happens once it has been reaped)."""
        if self.returncode is None:
            self._handle.send_signal(sig)

    def terminate(self) -> None:
        """Ask the process to end (SIGTERM on Linux; TerminateProcess on Windows)."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the process (SIGKILL on Linux; TerminateProcess on Windows)."""
        self.send_signal(getattr(signal, "SIGKILL", signal.SIGTERM))

    def __enter__(self) -> ContainerProcess:
        return self

    def __del__(self) -> None:
        # Never waited for: hand the OS handle to the reaper, as Popen.__del__ does.
        if getattr(self, "returncode", 0) is None and hasattr(self, "_handle"):
            with _abandoned_lock:
                _abandoned.add(self._handle)

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdout, self.stderr, self.stdin):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass  # as Popen.__exit__: the reader end is gone
        self.wait()


def _wrap(fd: int | None, mode: str, text: bool) -> IO[Any] | None:
    if fd is None:
        return None
    stream: IO[Any] = os.fdopen(fd, mode, buffering=0 if "w" in mode else -1)
    if text:
        stream = io.TextIOWrapper(stream, encoding="utf-8", errors="replace",  # type: ignore[arg-type]
                                  write_through=True)
    return stream
