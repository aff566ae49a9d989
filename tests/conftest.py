"""Shared pytest configuration."""

from __future__ import annotations

import sys

import pytest

sys.path.insert(0, __import__("os").path.dirname(__file__))

from _support import need_root  # noqa: E402


@pytest.fixture
def root_required() -> None:
    """Fixture form of :func:`_support.need_root`."""
    need_root()

from linux_fixtures import service  # noqa: E402,F401  (fixture shared by the Linux end-to-end tests)

# tests/windows/ is the Windows suite: it runs on a Windows CPython (under Wine
# through tests/test_windows_wine.py, or on a real Windows host), never here.
collect_ignore = [] if sys.platform == "win32" else ["windows"]
