"""Platform selection, done once: LINUX / WINDOWS flags and the backend factory."""

from __future__ import annotations

import sys
from typing import Any

from .errors import UnsupportedOnPlatform

LINUX = sys.platform.startswith("linux")
WINDOWS = sys.platform == "win32"


def make_backend(root: str, **options: Any):
    """The backend for this OS, configured for the service ``root``."""
    if LINUX:
        from .backends.linux.backend import LinuxBackend

        return LinuxBackend(root, **options)
    if WINDOWS:
        from .backends.windows.backend import WindowsBackend

        return WindowsBackend(root, **options)
    raise UnsupportedOnPlatform("ContainerService", f"no backend for {sys.platform}")
