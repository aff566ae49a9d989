"""Fail if anything of ironframe_py is left on this machine (run after the test suite in CI).

Looks at the OS itself, not at any state store: cgroup directories named
``ironframe*`` in every mounted hierarchy, mounts and loop devices whose
path mentions ironframe, and processes running as a uid of the default
container uid range.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ironframe_py.backends.linux import mountinfo  # noqa: E402
from ironframe_py.service import DEFAULT_UID_RANGE  # noqa: E402

MARK = "ironframe"


def cgroup_leftovers(top: str = "/sys/fs/cgroup") -> list[str]:
    """cgroup directories whose name starts with ``ironframe``."""
    found = []
    for dirpath, dirnames, _ in os.walk(top):
        for name in dirnames:
            if name.startswith(MARK):
                found.append(os.path.join(dirpath, name))
    return found


def mount_leftovers() -> list[str]:
    """Mount points that mention ironframe."""
    return [mount.mount_point for mount in mountinfo.read() if MARK in mount.mount_point]


def loop_leftovers() -> list[str]:
    """Loop devices backed by a file that mentions ironframe."""
    found = []
    for name in os.listdir("/sys/block"):
        backing = f"/sys/block/{name}/loop/backing_file"
        if os.path.exists(backing):
            with open(backing) as file:
                path = file.read().strip()
            if MARK in path:
                found.append(f"/dev/{name} -> {path}")
    return found


def _uids_of(pid: str) -> tuple[int, ...]:
    """Real, effective, saved and fs uid of a live ``pid`` (empty if gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as file:
            fields = dict(line.split(":", 1) for line in file if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return ()  # exited while we looked
    if fields.get("State", "").split()[:1] in (["Z"], ["X"]):
        return ()  # already dead: its parent has yet to reap it
    return tuple(int(uid) for uid in fields.get("Uid", "").split())


def process_leftovers() -> list[str]:
    """Live (non-zombie) processes running as a container uid of the default range."""
    return [pid for pid in os.listdir("/proc")
            if pid.isdigit() and any(uid in DEFAULT_UID_RANGE for uid in _uids_of(pid))]


def claim_leftovers(claims: str = "/run/ironframe/uids") -> list[str]:
    """Host-wide uid claims still held."""
    return sorted(os.listdir(claims)) if os.path.isdir(claims) else []


def main() -> int:
    """Print every leftover; exit 1 if there is any."""
    problems = {
        "cgroups": cgroup_leftovers(),
        "mounts": mount_leftovers(),
        "loop devices": loop_leftovers(),
        "processes": process_leftovers(),
        "uid claims": claim_leftovers(),
    }
    if problems["processes"]:  # a process killed a moment ago may still be exiting
        time.sleep(2)
        problems["processes"] = process_leftovers()
    bad = False
    for kind, items in problems.items():
        for item in items:
            print(f"leftover {kind}: {item}")
            bad = True
    if not bad:
        print("no leftovers: no ironframe cgroup, mount, loop device, uid claim or container process")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
