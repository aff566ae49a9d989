"""``ironframe run`` from a terminal: the command gets a pty of its own, never the operator's."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import termios
import time

from _support import REPO

SCRIPT = """
import os, termios
print("tty", os.ttyname(0), flush=True)
print("controlling", os.tcgetpgrp(0) == os.getpgrp(), flush=True)
mode = termios.tcgetattr(0)
mode[3] &= ~termios.ECHO                       # try to turn the operator's echo off
termios.tcsetattr(0, termios.TCSANOW, mode)
print("typed", input(), flush=True)
"""


def _read_until_exit(master: int, proc: subprocess.Popen, send: bytes, timeout: float) -> str:
    out = b""
    sent = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every slave fd is closed
                break
            out += chunk
            if not sent and b"controlling" in out:
                os.write(master, send)
                sent = True
        elif proc.poll() is not None:
            break
    return out.decode(errors="replace")


def test_run_from_a_terminal_gets_its_own_pty_and_leaves_the_operators_alone(root):  # noqa: F811
    master, slave = os.openpty()
    operator = os.ttyname(slave)
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([sys.executable, "-m", "ironframe_py", "--root", root, "run", "--",
                             "/usr/bin/python3", "-S", "-c", SCRIPT],
                            stdin=slave, stdout=slave, stderr=slave, cwd=REPO)
    try:
        text = _read_until_exit(master, proc, b"secret keys\r", 60)
        assert proc.wait(30) == 0, text
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = dict(line.strip().split(" ", 1) for line in text.splitlines()
                 if line.strip().startswith(("tty ", "controlling ", "typed ")))
    assert lines["tty"].startswith("/dev/pts/") and lines["tty"] != operator, text
    assert lines["controlling"] == "True"  # ^C and job control reach the command
    assert lines["typed"] == "secret keys"  # the relay carries keystrokes in
    assert termios.tcgetattr(slave) == before  # echo (and cooked mode) are as they were
    os.close(slave)
    os.close(master)
