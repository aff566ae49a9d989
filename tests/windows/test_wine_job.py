"""Job Objects for real on a Windows CPython (run under Wine in CI, or on Windows).

Tests of what Wine only stubs carry ``wine_stub`` in their name and check
that our calls are accepted, not that the limit is enforced.
"""

from __future__ import annotations

import os
import sys
import time

import pytest
from _winproc import start_in

from ironframe_py.backends.windows import job as jobs
from ironframe_py.backends.windows._api import kernel32 as k32

SLEEPER = f'"{sys.executable}" -c "import time; time.sleep(60)"'


@pytest.fixture
def job():
    job = jobs.JobObject()
    yield job
    job.close()


def _start_in(job, command: str = SLEEPER):
    return start_in(job, command)


@pytest.mark.windows_only
def test_setters_read_modify_write_so_limits_compose(job):
    job.set_limits(kill_on_close=True)
    job.set_limits(active_processes=5)
    job.set_limits(process_memory=256 << 20)
    assert _kernel_limits(job) == {"job_memory": None, "process_memory": 256 << 20,
                                   "active_processes": 5, "kill_on_close": True}
    job.set_limits(kill_on_close=False)
    limits = _kernel_limits(job)
    assert limits["active_processes"] == 5 and not limits["kill_on_close"]


def _kernel_limits(job) -> dict:
    """The limits as the kernel reports them (QueryInformationJobObject)."""
    from ironframe_py.backends.windows._ffi import C, ffi

    info = ffi.new("JOBOBJECT_EXTENDED_LIMIT_INFORMATION *")
    k32.QueryInformationJobObject(job.handle, C.JobObjectExtendedLimitInformation, info)
    flags = info.BasicLimitInformation.LimitFlags
    return {"job_memory": info.JobMemoryLimit if flags & C.JOB_OBJECT_LIMIT_JOB_MEMORY else None,
            "process_memory": (info.ProcessMemoryLimit
                               if flags & C.JOB_OBJECT_LIMIT_PROCESS_MEMORY else None),
            "active_processes": (info.BasicLimitInformation.ActiveProcessLimit
                                 if flags & C.JOB_OBJECT_LIMIT_ACTIVE_PROCESS else None),
            "kill_on_close": bool(flags & C.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE)}


def test_kill_on_close_survives_later_setters(job):
    """Composition seen in behaviour (Wine does not read limits back): the later
    setters keep kill-on-close, so closing the job still ends its process."""
    job.set_limits(kill_on_close=True)
    job.set_limits(active_processes=5)
    job.set_limits(process_memory=256 << 20)
    process, _ = _start_in(job)
    try:
        job.close()
        assert k32.WaitForSingleObject(process, 10_000) == 0
    finally:
        k32.CloseHandle(process)


def test_wine_stub_memory_and_process_limits_are_accepted(job):
    job.set_limits(job_memory=64 << 20, process_memory=32 << 20, active_processes=3)


def test_process_in_job_is_listed_counted_and_terminated(job):
    process, pid = _start_in(job)
    try:
        members = job.pids()  # a console host may join next to a console program
        assert pid in members and len(members) <= 2
        assert k32.IsProcessInJob(process, job.handle)
        assert 1 <= job.accounting().active_processes <= 2
        assert k32.GetExitCodeProcess(process) == 259  # STILL_ACTIVE
        job.terminate(37)
        assert k32.WaitForSingleObject(process, 10_000) == 0
        assert k32.GetExitCodeProcess(process) == 37
        deadline = time.monotonic() + 10
        while job.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.pids() == []
    finally:
        k32.CloseHandle(process)


def test_kill_on_close_ends_the_processes(job):
    job.set_limits(kill_on_close=True)
    process, _ = _start_in(job)
    try:
        job.close()
        assert k32.WaitForSingleObject(process, 10_000) == 0
        job.close()  # idempotent
    finally:
        k32.CloseHandle(process)


def test_process_memory_reads_through_pagefile_usage(job):
    process, _ = _start_in(job)
    try:
        counters = k32.GetProcessMemoryInfo(process)
        assert counters.PagefileUsage > 0  # Wine reports PrivateUsage as 0; this is the same figure
    finally:
        job.terminate(1)
        k32.CloseHandle(process)


def test_failures_raise_typed_errors_with_the_call_name(job):
    from ironframe_py import NotFound, OSCallError

    with pytest.raises(OSCallError) as info:
        k32.OpenProcess(0x0400, 0)  # pid 0 is never openable
    assert info.value.function == "OpenProcess" and info.value.winerror is not None
    job.close()
    with pytest.raises(Exception) as closed:
        job.pids()
    assert "closed" in str(closed.value)
    assert issubclass(NotFound, OSCallError)


def test_wine_stub_cpu_rate_is_refused_with_error_87_or_accepted(job):
    """Wine answers error 87 for CPU rate control; Windows 8+ accepts it."""
    from ironframe_py import OSCallError
    from ironframe_py.backends.windows import _dll

    try:
        job.set_cpu_rate(hard_cap=jobs.cpu_rate_for(0.5, os.cpu_count() or 1))
    except OSCallError as err:
        assert _dll.is_wine() and err.winerror == 87 and err.function == "SetInformationJobObject"


def test_cpu_rate_and_weight_mapping():
    assert jobs.cpu_rate_for(1, 4) == 2500 and jobs.cpu_rate_for(64, 4) == 10_000
    assert jobs.cpu_rate_for(0.0001, 4) == 1
    assert jobs.weight_for(100) == 5 and jobs.weight_for(10_000) == 9 and jobs.weight_for(1) == 1


def test_named_job_can_be_reopened_and_terminated():
    name = f"ironframe-test-{os.getpid()}"
    job = jobs.JobObject(name)
    try:
        job.set_limits(kill_on_close=True)
        process, _ = _start_in(job)
        try:
            assert jobs.terminate_named(name, 5)
            assert k32.WaitForSingleObject(process, 10_000) == 0
            assert k32.GetExitCodeProcess(process) == 5
        finally:
            k32.CloseHandle(process)
    finally:
        job.close()
    assert not jobs.terminate_named(name + "-never-created")
