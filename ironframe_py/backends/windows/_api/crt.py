"""The C runtime's view of file descriptors (private): the one CRT call launch needs.

Not a Win32 DLL call, but behind the same :class:`~._api.Api` seam so that
the fake can answer as the CRT of a service with no console does.
"""

from __future__ import annotations

import sys

from ....errors import UnsupportedOnPlatform


def get_osfhandle(fd: int) -> int:
    """The OS handle behind C runtime ``fd``, as an integer.

    For 0, 1 and 2 of a process with no console (a service), the CRT answers
    the special value -2 -- which is also ``GetCurrentThread()``'s pseudo-handle.
    https://learn.microsoft.com/cpp/c-runtime-library/reference/get-osfhandle"""
    if sys.platform == "win32":
        import msvcrt

        return msvcrt.get_osfhandle(fd)
    raise UnsupportedOnPlatform("get_osfhandle", "the C runtime's handles exist only on Windows")
