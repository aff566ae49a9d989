"""Container identities on Linux: a bare uid/gid pair, no passwd entry.

The uid comes from the service's reserved range (the state store hands it
out).  Before a uid is reused we make sure no process of it is left on the
host; processes that escaped the container's cgroups are found here by
their real or effective uid and killed on destroy.
"""

from __future__ import annotations

import os
import signal
import time

PROC = "/proc"


def _uids_of(pid: str, proc: str = PROC) -> tuple[int, ...]:
    """Real, effective, saved and fs uid of a live ``pid`` (empty if gone or a zombie).

    Zombies are skipped: they are already dead, cannot be killed, and vanish
    when their parent reaps them.
    """
    try:
        with open(os.path.join(proc, pid, "status"), "rb") as status:
            for line in status:
                if line.startswith(b"State:") and line.split()[1] in (b"Z", b"X"):
                    return ()
                if line.startswith(b"Uid:"):
                    return tuple(int(field) for field in line.split()[1:5])
    except (FileNotFoundError, ProcessLookupError):
        pass  # the process exited while we looked: it has no uid any more
    return ()


def pids_of_uid(uid: int, proc: str = PROC) -> list[int]:
    """Every process on the host that runs with ``uid`` as any of its uids."""
    found = []
    for entry in os.listdir(proc):
        if entry.isdigit() and uid in _uids_of(entry, proc):
            found.append(int(entry))
    return found


def uid_in_use(uid: int) -> bool:
    """True if any process on the host still runs as ``uid``."""
    return bool(pids_of_uid(uid))


def kill_uid(uid: int, timeout: float = 5.0) -> list[int]:
    """SIGKILL every process of ``uid`` until none is left; return those killed.

    Used on destroy after the cgroup kill, to catch processes that got out
    of the container's cgroups (a root helper moved them, or a bug).
    """
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_of_uid(uid)
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes of uid {uid} survive SIGKILL: {pids}")
        time.sleep(0.005)
