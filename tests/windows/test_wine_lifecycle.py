"""The whole container lifecycle, end to end, on the real Windows CPython.

Each test runs once per isolation.  ``isolation="job"`` needs no
per-container user, so it runs everywhere, under Wine too: create, run with
captured output, info, a memory breach the guard kills (Wine does not enforce
job memory limits, so there the guard is what stops it), destroy killing
every process, recover after the owning host died, and a container of 100
processes.  The full-user mode (``isolation="user"``) runs the same tests on
a real Windows host only (``windows_only``: under Wine a NetUserAdd account
has no SID), as an administrator -- the Windows workflow does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
from _support import REPO

from ironframe_py import PIPE, ContainerService, ContainerSpec, Limits, NotFound, ProcessSpec
from ironframe_py.backends.windows import _dll
from ironframe_py.backends.windows import job as jobs
from ironframe_py.backends.windows._api import kernel32 as k32
from ironframe_py.backends.windows.backend import WindowsBackend

PING = os.path.join(os.environ.get("SystemRoot", r"C:\windows"), "System32", "ping.exe")
# A light process that lives for minutes (one echo a second): 100 of them fit anywhere.
SLEEPER = [PING, "-n", "600", "127.0.0.1"]
STILL_ACTIVE = 259
# The token's user (GetUserNameW: the environment need not name it) and the working directory.
WHO_AND_WHERE = ("import ctypes, os; name = ctypes.create_unicode_buffer(257); "
                 "size = ctypes.c_ulong(257); "
                 "assert ctypes.windll.advapi32.GetUserNameW(name, ctypes.byref(size)); "
                 "print('hello', 6 * 7, name.value, os.getcwd())")
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000


@pytest.fixture(params=["job", pytest.param("user", marks=pytest.mark.windows_only)])
def isolation(request) -> str:
    return request.param


@pytest.fixture
def service(tmp_path):
    backend = WindowsBackend(str(tmp_path), profiles=_dll.has("user_profiles"))
    service = ContainerService(str(tmp_path), backend=backend, guard_interval=0.01)
    yield service
    for handle in service.list():
        service.destroy(handle)
    service.close()


def _alive(pid: int) -> bool:
    try:
        handle = k32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, pid)
    except OSError:
        return False  # gone (its pid no longer names a process)
    try:
        return k32.GetExitCodeProcess(handle) == STILL_ACTIVE
    finally:
        k32.CloseHandle(handle)


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.02)
    return predicate()


def test_create_run_with_output_info_and_destroy_kills_everything(service, isolation):
    container = service.create(ContainerSpec(handle="life", isolation=isolation,
                                             limits=Limits(memory="256M", processes=20)))
    job_name = container._live.view.job_name
    process = container.run(ProcessSpec([sys.executable, "-c", WHO_AND_WHERE], stdout=PIPE,
                                        text=True))
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    word, number, user, cwd = out.split(maxsplit=3)
    assert (word, number) == ("hello", "42")
    assert os.path.normcase(cwd.strip()) == os.path.normcase(container.path)
    if isolation == "user":
        assert user.lower() == container.user.lower()
    sleepers = [container.run(ProcessSpec(SLEEPER)) for _ in range(3)]
    info = container.info()
    # a console host may join the job next to console programs, as on Windows
    assert info.state == "active" and 3 <= info.processes <= 6 and info.limits.processes == 20
    assert {p.pid for p in sleepers} <= set(container._live.view.pids())
    assert info.memory_usage and info.memory_usage > 0
    container.destroy()
    assert all(p.wait(30) is not None for p in sleepers)
    assert not any(_alive(p.pid) for p in sleepers)
    assert not os.path.exists(container.path) and service.list() == []
    assert _wait_for(lambda: _job_gone(job_name), 10)  # gone with its last handle and process


def _job_gone(name: str) -> bool:
    try:
        jobs.JobObject.open(name).close()
    except NotFound:
        return True
    return False


def test_the_guard_stops_a_container_over_its_memory_limit_and_records_it(service, isolation):
    container = service.create(ContainerSpec(handle="hog", isolation=isolation,
                                             limits=Limits(memory="64M", processes=8)))
    sleeper = container.run(ProcessSpec(SLEEPER))
    hog = container.run(ProcessSpec([sys.executable, "-S", "-c", "import time; c = [(bytearray("
                                     "1 << 20), time.sleep(0.002)) for _ in range(400)]; "
                                     "time.sleep(60)"]))
    assert hog.wait(60) is not None and sleeper.wait(60) is not None  # the whole job went
    events = container.kill_events()
    assert events and events[0].kind == "memory" and events[0].limit == 64 << 20, events
    assert container.info().kill_events
    container.destroy()


def test_recover_removes_what_a_dead_host_left_and_its_processes_died_with_it(service, tmp_path,
                                                                             isolation):
    """Another Windows process creates a job container, starts a process in it and dies
    without destroying it: kill-on-close ends the process, recover() removes the rest."""
    script = tmp_path / "orphan.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {REPO!r})
        from ironframe_py import ContainerService, ContainerSpec, ProcessSpec
        from ironframe_py.backends.windows.backend import WindowsBackend
        root = {str(tmp_path)!r}
        service = ContainerService(root, backend=WindowsBackend(root, profiles={_dll.has("user_profiles")!r}),
                                   guard_interval=None)
        container = service.create(ContainerSpec(handle="orphan", isolation={isolation!r}))
        print(container.run(ProcessSpec({SLEEPER!r})).pid, container.path, flush=True)
        os._exit(0)  # a host that dies: no destroy, no close
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    pid_text, path = result.stdout.split(maxsplit=1)
    pid, path = int(pid_text), path.strip()
    assert _wait_for(lambda: not _alive(pid), 30)  # kill-on-close: the host's handle closed
    assert os.path.isdir(path) and "orphan" in service.list()
    assert service.recover() == ["orphan"]
    assert service.list() == [] and not os.path.exists(path)


def test_a_container_of_100_processes_is_listed_counted_and_destroyed_whole(service, isolation):
    container = service.create(ContainerSpec(handle="many", isolation=isolation,
                                             limits=Limits(processes=150)))
    processes = [container.run(ProcessSpec(SLEEPER)) for _ in range(100)]
    pids = {p.pid for p in processes}
    assert set(container._live.view.pids()) >= pids  # past the first 64-entry list
    assert container.info().processes >= 100
    container.destroy()
    assert all(p.wait(60) is not None for p in processes)
    assert not any(_alive(pid) for pid in pids)
