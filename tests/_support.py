"""Helpers shared by the test modules (not a test module itself)."""

from __future__ import annotations

import os
import re
import sys

import pytest

REQUIRE_PRIVILEGED = os.environ.get("IRONFRAME_REQUIRE_PRIVILEGED") == "1"
LINUX = sys.platform.startswith("linux")
WINDOWS = sys.platform == "win32"
#: The repository (or unpacked sdist) the tests run from.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


_SUMMARY_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?)")
_SUMMARY_LINE = re.compile(r"^=*\s*(?:no tests ran|\d+ \w+(?:, \d+ \w+)*)(?: in [\d.]+s.*)?\s*=*$")


def pytest_summary(output: str) -> dict[str, int]:
    """The counts on the closing summary line of a pytest run (``{"passed": 37, ...}``).

    Only the last line of the form ``== 37 passed, 8 deselected in 9.1s ==``
    (or ``-q``'s ``37 passed in 9.1s``) counts, never a word elsewhere in the
    output; with no such line (a crashed run) the result is empty.
    """
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line and _SUMMARY_LINE.match(line):
            counts: dict[str, int] = {}
            for number, word in _SUMMARY_COUNT.findall(line):
                key = {"error": "errors", "warning": "warnings"}.get(word, word)
                counts[key] = int(number)
            return counts
    return {}


def wait_until(predicate, timeout: float, step: float = 0.005) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; its last answer."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def load_tool(name: str):
    """Import ``tools/<name>.py`` of the repository as a module (tools/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
