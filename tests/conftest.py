"""Configuration shared by the whole suite.

Layout: the platform-neutral contract tests sit here at the top; the Linux
tests (real kernel objects, as root) in ``tests/linux/``; the Windows tests in
``tests/windows/`` -- the ``test_wine_*`` modules run on a Windows CPython
(under Wine through ``tests/windows/test_under_wine.py``, or on a Windows
host), the others on Linux against the documented-behaviour fake.  Helpers are
importable as plain modules (``_support`` through pytest's ``pythonpath``
setting, each folder's own helpers from its folder).  Anything that needs root
or a kernel feature says so with :func:`_support.need` / :func:`_support.need_root`.
"""

from __future__ import annotations

import sys

collect_ignore = ["linux"] if sys.platform == "win32" else []
