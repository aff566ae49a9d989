"""The Windows tests: which of them this interpreter runs.

``test_wine_*`` modules need a Windows CPython (Wine's or a real host's); the
Wine runner, the header-layout check and the no-DLL smoke test need Linux;
the tests of the documented-behaviour fake run on either.
"""

from __future__ import annotations

import pathlib
import sys

_HERE = pathlib.Path(__file__).parent
_NEED_WINDOWS = sorted(p.name for p in _HERE.glob("test_wine_*.py"))
_NEED_LINUX = ["test_layout.py", "test_smoke.py", "test_under_wine.py"]

collect_ignore = _NEED_LINUX if sys.platform == "win32" else _NEED_WINDOWS
