"""The pytest summary-line parser that nested test runs are judged by."""

from __future__ import annotations

from _support import pytest_summary


def test_reads_the_closing_line_only():
    output = "\n".join([
        "wine: failed to open L\"C:\\\\windows\\\\syswow64\\\\rundll32.exe\"",
        "tests/windows/test_x.py::test_failed_logon_is_reported PASSED",
        "========== 37 passed, 8 deselected, 2 warnings in 12.34s ==========",
    ])
    assert pytest_summary(output) == {"passed": 37, "deselected": 8, "warnings": 2}


def test_quiet_mode_and_failures():
    assert pytest_summary("..F\n1 failed, 2 passed in 0.50s\n") == {"failed": 1, "passed": 2}
    assert pytest_summary("= 1 passed, 1 error in 3.1s =") == {"passed": 1, "errors": 1}


def test_no_summary_line_is_empty():
    assert pytest_summary("Traceback (most recent call last):\n  boom\n") == {}
    assert pytest_summary("3 passed tests were fine, but then it crashed\n") == {}
