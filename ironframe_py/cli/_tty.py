"""A pseudo-terminal of its own for a command run from a terminal, as ``docker run -t``
and sudo's ``use_pty`` give one.

Handing the operator's terminal to a contained process would let it read
keystrokes after it should have stopped, change the terminal's settings or
push input into it.  Instead the command gets the slave side of a new pty;
this process puts the operator's terminal in raw mode, relays bytes both
ways and the window size, and restores the terminal however the command
ends.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import struct
import termios
import tty
from collections.abc import Callable
from types import FrameType

__all__ = ["PtyRelay", "wants_pty"]

_CHUNK = 65536


def wants_pty(stdin_fd: int = 0) -> bool:
    """True when the command should get a pty: this process's stdin is a terminal."""
    return os.isatty(stdin_fd)


class PtyRelay:
    """Owns the pty: ``slave`` is the command's stdin/stdout/stderr, ``relay()`` pumps it.

    Use as a context manager around spawning and relaying.
    """

    def __init__(self, stdin_fd: int = 0, stdout_fd: int = 1) -> None:
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self.master = -1
        self.slave = -1
        self._saved_mode: list | None = None
        self._saved_winch: object = None

    def __enter__(self) -> PtyRelay:
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        self._copy_window_size()
        self._saved_mode = termios.tcgetattr(self.stdin_fd)
        tty.setraw(self.stdin_fd, termios.TCSANOW)
        self._saved_winch = signal.signal(signal.SIGWINCH, self._on_winch)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved_mode is not None:
            termios.tcsetattr(self.stdin_fd, termios.TCSADRAIN, self._saved_mode)
        if self._saved_winch is not None:
            signal.signal(signal.SIGWINCH, self._saved_winch)  # type: ignore[arg-type]
        self.close_slave()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def close_slave(self) -> None:
        """Our copy of the slave: closed once the command has it, so its exit ends the relay."""
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def relay(self, exited: Callable[[], bool], stop: Callable[[], bool]) -> None:
        """Pump bytes until the command has exited (then drain its output) or ``stop()``."""
        stdin_open = master_open = True
        while not stop():
            if exited():
                self._drain()
                return
            readers = ([self.master] if master_open else []) + ([self.stdin_fd] if stdin_open else [])
            try:
                ready, _, _ = select.select(readers, [], [], 0.05)
            except InterruptedError:
                continue
            if self.stdin_fd in ready:
                data = os.read(self.stdin_fd, _CHUNK)
                if data:
                    _write_all(self.master, data)
                else:
                    stdin_open = False
            if self.master in ready:
                master_open = self._copy_out()

    def _copy_out(self) -> bool:
        """Copy one chunk the command wrote; False once no slave fd is open (EIO)."""
        try:
            data = os.read(self.master, _CHUNK)
        except BlockingIOError:
            return True
        except OSError as err:
            if err.errno == errno.EIO:
                return False
            raise
        _write_all(self.stdout_fd, data)
        return bool(data)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, _CHUNK)
            except BlockingIOError:
                return
            except OSError as err:
                if err.errno == errno.EIO:  # the slave side is gone: nothing more will come
                    return
                raise
            if not data:
                return
            _write_all(self.stdout_fd, data)

    def _copy_window_size(self) -> None:
        try:
            size = fcntl.ioctl(self.stdin_fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        except OSError:
            return  # not a terminal with a size: the pty keeps the default
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    def _on_winch(self, _signum: int, _frame: FrameType | None) -> None:
        self._copy_window_size()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        view = view[written:]
