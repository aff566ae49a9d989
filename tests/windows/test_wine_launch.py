"""Launching into a job for real on a Windows CPython (under Wine in CI, or on Windows).

Tests of what Wine only stubs carry ``wine_stub`` in their name: there they
check that our calls are accepted, not that the OS enforces anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from _support import REPO

from ironframe_py.backends.windows import job as jobs
from ironframe_py.backends.windows import launch
from ironframe_py.backends.windows._api import kernel32 as k32


@pytest.fixture
def job():
    job = jobs.JobObject()
    job.set_limits(kill_on_close=True)
    yield job
    job.close()


@pytest.fixture
def pipe():
    """A pipe (read fd, write fd); both closed at teardown if still open."""
    read, write = os.pipe()
    fds = [read, write]
    yield fds
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass  # closed by the test already


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_output_env_cwd_and_exit_code_come_through(job, pipe, tmp_path):
    env = dict(os.environ, IRONFRAME_PROBE="hello ünïcode", PYTHONIOENCODING="utf-8")
    proc = launch.spawn(job, _python("""
        import os, sys
        print(os.environ["IRONFRAME_PROBE"], os.getcwd(), sep="|")
        sys.exit(7)
    """), env, str(tmp_path), (None, pipe[1], pipe[1]))
    try:
        os.close(pipe[1])
        pipe[1] = None
        output = _read_all(pipe[0])
        assert proc.wait(30) == 7
    finally:
        proc.close()
    probe, cwd = output.strip().split("|")
    assert probe == "hello ünïcode"
    assert os.path.normcase(cwd) == os.path.normcase(str(tmp_path))


def test_child_is_in_the_job_from_its_first_instruction(job):
    proc = launch.spawn(job, _python("import time; time.sleep(60)"), dict(os.environ), REPO)
    try:
        assert k32.IsProcessInJob(proc.handle, job.handle)
        assert proc.pid in job.pids()
        assert proc.wait(0) is None  # still running
        proc.send_signal(15)
        assert proc.wait(30) == 1
        proc.send_signal(15)  # already gone: no error
    finally:
        proc.close()
    proc.close()  # idempotent
    assert proc.wait(0) == 1  # remembered after close


def test_closing_the_job_kills_what_was_launched(job):
    proc = launch.spawn(job, _python("import time; time.sleep(60)"), dict(os.environ), REPO)
    try:
        job.close()
        assert proc.wait(30) is not None
    finally:
        proc.close()


def test_environment_block_is_sorted_and_double_terminated():
    block = launch.environment_block({"b": "2", "A": "1", "Path": "x"})
    raw = bytes(launch.ffi.buffer(block)).decode("utf-16-le")
    assert raw == "A=1\0b=2\0Path=x\0\0"


def test_a_launch_failure_raises_and_leaves_nothing_in_the_job(job):
    from ironframe_py import OSCallError

    with pytest.raises(OSCallError) as info:
        launch.spawn(job, [r"C:\no\such\program.exe"], dict(os.environ), REPO)
    assert info.value.function == "CreateProcessW"
    assert job.pids() == []


def test_launch_from_a_host_that_is_itself_in_a_job(tmp_path):
    """The host runs inside a job (as under a CI runner): our job nests, or we break away."""
    script = tmp_path / "nested.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {REPO!r})
        from ironframe_py.backends.windows import job as jobs, launch
        from ironframe_py.backends.windows._api import kernel32 as k32
        assert launch.host_in_job(), "the outer job did not take"
        inner = jobs.JobObject()
        inner.set_limits(kill_on_close=True)
        proc = launch.spawn(inner, [sys.executable, "-c", "import time; time.sleep(60)"],
                            {{}}, {str(tmp_path)!r})
        print("IN-INNER", k32.IsProcessInJob(proc.handle, inner.handle), flush=True)
        inner.close()
        print("EXIT", proc.wait(30), flush=True)
    """))
    outer = jobs.JobObject()
    outer.set_limits(kill_on_close=True)
    read, write = os.pipe()
    try:
        proc = launch.spawn(outer, [sys.executable, str(script)], dict(os.environ), str(tmp_path),
                            (None, write, write))
        os.close(write)
        write = None
        output = _read_all(read)
        assert proc.wait(60) == 0, output
        proc.close()
    finally:
        os.close(read)
        if write is not None:
            os.close(write)
        outer.close()
    assert "IN-INNER True" in output and "EXIT None" not in output, output


def test_wine_stub_logon_token_launch_runs_in_the_job_and_dies_with_it(job):
    """Under Wine LogonUserW always succeeds with a fake token; CreateProcessWithTokenW accepts it."""
    from ironframe_py.backends.windows import users

    user = users.LocalUser.create("ifw-test-launch")
    try:
        token = user.logon()
        try:
            proc = launch.spawn(job, _python("import time; time.sleep(60)"), dict(os.environ), REPO,
                                token=token)
        finally:
            users.close_token(token)
        try:
            assert proc.pid in job.pids()
            job.terminate(9)
            assert proc.wait(30) == 9
        finally:
            proc.close()
    finally:
        users.delete_user(user.name)


def test_subprocess_is_not_broken_by_our_handles():
    """Sanity: our inheritable copies are closed, so a plain subprocess still sees EOF."""
    out = subprocess.run([sys.executable, "-c", "print(42)"], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "42"
