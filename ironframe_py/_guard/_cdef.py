"""The cffi declarations of the guard core, read from its C headers (private).

No imports of the package: ``_guard_build.py``, which setuptools runs as a
script, loads this file by path.
"""

from __future__ import annotations

import os
import sys

GUARD_DIR = os.path.dirname(os.path.abspath(__file__))
CORE_HEADER = "guard_core.h"
# The header holding each OS's ifg_target (one struct per OS).
TARGET_HEADERS = {"linux": "guard_target_linux.h", "win32": "guard_target_windows.h"}


def _blocks(name: str) -> list[str]:
    """The text between each ``CDEF-BEGIN`` / ``CDEF-END`` pair of one header."""
    with open(os.path.join(GUARD_DIR, name), encoding="utf-8") as header:
        text = header.read()
    return [part.split("/* CDEF-END */", 1)[0] for part in text.split("/* CDEF-BEGIN */")[1:]]


def target_header(platform: str = sys.platform) -> str:
    """The name of the header that declares ``platform``'s ifg_target."""
    return TARGET_HEADERS["win32" if platform == "win32" else "linux"]


def cdef_text(platform: str = sys.platform) -> str:
    """The core's declarations for ``platform``: guard_core.h's first CDEF block
    (constants, events), the OS's target struct, then the functions -- the order
    in which guard_core.h includes them."""
    first, *rest = _blocks(CORE_HEADER)
    return "".join([first, *_blocks(target_header(platform)), *rest])
