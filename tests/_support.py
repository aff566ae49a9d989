"""Helpers shared by the test modules (not a test module itself)."""

from __future__ import annotations

import os
import sys

import pytest

REQUIRE_PRIVILEGED = os.environ.get("IRONFRAME_REQUIRE_PRIVILEGED") == "1"
LINUX = sys.platform.startswith("linux")
WINDOWS = sys.platform == "win32"


def need(condition: bool, why: str) -> None:
    """Skip the test unless ``condition`` holds -- or fail, under IRONFRAME_REQUIRE_PRIVILEGED=1.

    Use it for every test that needs root or a kernel feature, so that a
    CI run can never pass by silently skipping the tests that matter.
    """
    if condition:
        return
    if REQUIRE_PRIVILEGED:
        pytest.fail(f"IRONFRAME_REQUIRE_PRIVILEGED=1 but {why}", pytrace=False)
    pytest.skip(why)


def need_root() -> None:
    """The test needs root on Linux."""
    need(LINUX, "this test needs Linux")
    need(os.geteuid() == 0, "this test needs root")
