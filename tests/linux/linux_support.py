"""OS probes for the Linux end-to-end tests (not a test module; the fixtures are in conftest.py).

The probes read the OS itself -- /sys/fs/cgroup, /proc/self/mountinfo,
/sys/block/loop*, /proc/<pid>/status -- never the service's state store.
"""

from __future__ import annotations

import os
import tempfile


def make_root() -> str:
    """A fresh service root under /tmp that container users can traverse."""
    root = tempfile.mkdtemp(prefix="ironframe-test-", dir="/tmp")
    os.chmod(root, 0o711)
    return root


def cgroup_dirs_named(handle: str) -> list[str]:
    """Every cgroup directory of container ``handle`` anywhere under /sys/fs/cgroup:
    ``ctr-<handle>``, or ``<handle>`` as releases before the prefix named them."""
    found = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        if "ironframe" in dirpath:
            found += [os.path.join(dirpath, name) for name in (handle, f"ctr-{handle}")
                      if name in dirnames]
    return found


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path``."""
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [p for p in points if p == path or p.startswith(path.rstrip("/") + "/")]


def loops_backed_under(path: str) -> list[str]:
    """Loop devices whose backing file lies below ``path``."""
    found = []
    for name in os.listdir("/sys/block"):
        backing = f"/sys/block/{name}/loop/backing_file"
        if os.path.exists(backing):
            with open(backing) as file:
                if file.read().strip().startswith(path):
                    found.append(name)
    return found


def processes_of_uid(uid: int) -> list[int]:
    """Live (non-zombie) processes running as ``uid``."""
    from ironframe_py.backends.linux.users import pids_of_uid

    return pids_of_uid(uid)


def assert_no_trace(root: str, handle: str, uid: int) -> None:
    """Nothing of the container is left on the OS."""
    assert cgroup_dirs_named(handle) == []
    assert not os.path.exists(os.path.join(root, "containers", handle))
    assert mounts_under(root) == []
    assert loops_backed_under(root) == []
    assert processes_of_uid(uid) == []


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (a killed process is a zombie until reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            state = file.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
