"""``/proc/self/mountinfo``, parsed in one place for every caller (tier 2).

The format is proc(5)'s: per line a mount id, the parent's id,
``major:minor``, the root of the mount within its filesystem, the mount
point, the per-mount options, zero or more optional fields ended by a lone
``-``, then the filesystem type, the mount source and the superblock
options.  The kernel escapes space, tab, newline and backslash in paths as
``\\ooo`` (octal); :func:`parse` undoes that.  Lines are in mount order, so
of several mounts on one point the last is the one on top.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["Mount", "parse", "read", "MOUNTINFO"]

MOUNTINFO = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclasses.dataclass(frozen=True)
class Mount:
    """One line of mountinfo, paths unescaped."""

    mount_id: int
    parent_id: int
    device: str         # "major:minor", as os.stat().st_dev of a file on it gives
    root: str           # the directory of the filesystem mounted here ("/" = all of it)
    mount_point: str
    options: str        # per-mount options ("rw,nosuid,relatime")
    fstype: str
    source: str         # "/dev/sda1", "tmpfs", "cgroup"...
    super_options: str  # per-superblock options (for cgroup v1: the controllers)


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def parse(text: str) -> list[Mount]:
    """Every mount in ``text`` (the contents of a mountinfo file), in file order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 10:
            continue  # not a mountinfo line
        sep = fields.index("-", 6)
        fstype, source, super_options = fields[sep + 1:sep + 4]
        mounts.append(Mount(int(fields[0]), int(fields[1]), fields[2], _unescape(fields[3]),
                            _unescape(fields[4]), fields[5], fstype, _unescape(source),
                            super_options))
    return mounts


def read(path: str = MOUNTINFO) -> list[Mount]:
    """The mounts this process sees (or those of another mountinfo file)."""
    with open(path) as file:
        return parse(file.read())
