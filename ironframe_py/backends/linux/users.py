"""Container identities on Linux: a bare uid/gid pair, no passwd entry.

The uid comes from the service's reserved range (the state store hands it
out, and frees it only when the container's row is deleted).  Destroy kills
every process of the uid anywhere on the host -- also ones that left the
container's cgroups -- before the row goes, so a uid is never reused while a
process of its last container lives.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from ...errors import IdentityTaken, ProcessesSurvived, os_error

PROC = "/proc"
#: Host-wide uid claims: one file per uid in use by any service on this host.
CLAIMS = "/run/ironframe/uids"


def pids_of_uid(uid: int) -> list[int]:
    """Every live process on the host that runs with ``uid`` as any of its uids.

    The scan is C (``_csrc/procscan.c``): it reads every process's status
    and runs on each destroy, so it must be cheap on hosts with many
    (kernel) threads.
    """
    from ._native import ffi, lib

    size = 64
    while True:
        pids = ffi.new("int32_t[]", size)
        count = lib.ifl_pids_of_uid(uid, pids, size)
        if count < 0:
            raise os_error("opendir", errno=-count, target=PROC)
        if count <= size:
            return list(pids[0:count])
        size = count * 2  # more than fitted: ask again with room


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
            raise ProcessesSurvived(f"uid {uid}", pids, timeout)
        time.sleep(0.005)


# --- host-wide uid claims ------------------------------------------------------------------

def claim_path(uid: int, claims: str = CLAIMS) -> str:
    """The claim file of ``uid``."""
    return os.path.join(claims, str(uid))


def is_claimed(uid: int, claims: str = CLAIMS) -> bool:
    """True if some service on this host (any root) holds ``uid``."""
    return os.path.exists(claim_path(uid, claims))


def claim(uid: int, owner: str, claims: str = CLAIMS) -> None:
    """Claim ``uid`` for ``owner`` (root and handle); AlreadyExists if another service has it.

    Services with different roots share the host's uids: without this, two of
    them would hand the same uid to two containers.  The claims live on
    /run (tmpfs), so they vanish with the processes at reboot.
    """
    os.makedirs(claims, mode=0o700, exist_ok=True)
    path = claim_path(uid, claims)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise IdentityTaken("open", errno.EEXIST, f"uid {uid} is held by another service on this host",
                            path) from None
    with os.fdopen(fd, "w") as file:
        file.write(owner)


def unclaim(uid: int, owner: str, claims: str = CLAIMS) -> None:
    """Drop our claim of ``uid``; someone else's claim (or none) is left alone."""
    path = claim_path(uid, claims)
    try:
        with open(path) as file:
            if file.read() != owner:
                return
        os.unlink(path)
    except FileNotFoundError:
        return
