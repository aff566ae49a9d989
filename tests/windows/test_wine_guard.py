"""The service's guard on Windows: the C guard core (ifguard.dll under Wine, the
compiled extension on Windows) watching real Job Objects through ServiceGuard.

Wine accepts job memory limits without enforcing them, so under Wine the
guard is the only thing that stops these allocators.  A NetUserAdd account
has no SID under Wine, so the views here report a made-up SID that no
process runs as (the escapee sweep runs, and must find nothing); the sweep
that kills real escapees is tested in a throwaway prefix by
tests/linux/test_guard_core.py.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time

import pytest
from _winproc import start_in

from ironframe_py import Limits
from ironframe_py.backends.base import ContainerContext
from ironframe_py.backends.windows import job as jobs
from ironframe_py.backends.windows._api import kernel32 as k32
from ironframe_py.backends.windows.backend import EXIT_KILLED, WindowsBackend, WindowsContainerView
from ironframe_py.backends.windows.guard_target import handle_value
from ironframe_py.service_guard import ServiceGuard

STILL_ACTIVE = 259
PY = f'"{sys.executable}" -S -c '
ALLOCATE = PY + ('"import time; c = [(bytearray(1 << 20), time.sleep(0.002)) for _ in range(400)]; '
                 'time.sleep(60)"')
HOLD_16M = PY + '"import time; x = bytearray(16 << 20); time.sleep(60)"'
NOBODY = bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + (4242).to_bytes(4, "little") * 4


class SidlessView(WindowsContainerView):
    """A real view over a real job; only the SID is made up (Wine accounts have none)."""

    def user_sid(self) -> bytes:
        return NOBODY


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def backend(tmp_path):
    return WindowsBackend(str(tmp_path), profiles=False)


def _container(backend, tmp_path, handle: str, memory: str):
    """A real job the backend holds (as create() leaves it) and a view that finds it by name."""
    name = f"ironframe-test-{id(backend):x}-{handle}"
    job = jobs.JobObject(name)
    job.set_limits(kill_on_close=True)
    backend._jobs[name] = job
    ctx = ContainerContext(handle, 0, 0, str(tmp_path / handle), Limits(memory=memory), {})
    return ctx, SidlessView(backend, ctx, f"c_{handle}", name, None), job


def test_target_carries_the_job_handle_limit_sid_and_exit_code(backend, tmp_path):
    ctx, view, job = _container(backend, tmp_path, "t", "64M")
    try:
        target = backend.guard_target(ctx, view)
        assert target.job == handle_value(job.handle) != 0
        assert (target.memory_limit, target.sid, target.exit_code) == (64 << 20, NOBODY, EXIT_KILLED)
    finally:
        job.close()


def test_service_guard_kills_a_job_over_its_limit_and_follows_limit_changes(backend, tmp_path):
    events = []
    hog_ctx, hog_view, hog_job = _container(backend, tmp_path, "hog", "50M")
    quiet_ctx, quiet_view, quiet_job = _container(backend, tmp_path, "quiet", "64M")
    holder = hog = None
    guard = ServiceGuard(0.01, events.append, backend.guard_target)
    try:
        holder = start_in(quiet_job, HOLD_16M)[0]
        guard.watch(quiet_ctx, quiet_view)
        hog = start_in(hog_job, ALLOCATE)[0]
        guard.watch(hog_ctx, hog_view)
        assert k32.WaitForSingleObject(hog, 60_000) == 0, "the allocator was not stopped"
        # the C core kills first, then Python delivers the event
        assert _wait_for(lambda: any(e.key == "hog" for e in events), 10), events
        breach = [e for e in events if e.key == "hog"]
        assert breach and breach[0].kind == "memory" and breach[0].limit == 50 << 20, events
        assert 49 << 20 <= breach[0].usage < 200 << 20, breach[0]  # at the limit: within 1 MiB
        assert hog_job.pids() == []  # the whole job, not just the allocator

        sweeps = guard.guard.sweeps
        assert _wait_for(lambda: guard.guard.sweeps - sweeps >= 100, 30)
        assert k32.GetExitCodeProcess(holder) == STILL_ACTIVE, "a process under its limit was killed"
        assert [e for e in events if e.key == "quiet"] == []

        # The limit lowered at run time (as Container.limit_memory does) is enforced.
        guard.update(dataclasses.replace(quiet_ctx, limits=Limits(memory="8M")), quiet_view)
        assert k32.WaitForSingleObject(holder, 30_000) == 0, "the lowered limit was not enforced"
        assert k32.GetExitCodeProcess(holder) == EXIT_KILLED
        assert _wait_for(lambda: any(e.key == "quiet" for e in events), 10), events
        lowered = [e for e in events if e.key == "quiet"]
        assert lowered and lowered[0].limit == 8 << 20 and lowered[0].usage >= 16 << 20, events
        guard.unwatch("quiet")
        guard.unwatch("quiet")  # idempotent
    finally:
        guard.stop()
        for process in (holder, hog):
            if process is not None:
                k32.TerminateProcess(process, 1)
        hog_job.close()
        quiet_job.close()
    assert not any(t.name.startswith("ironframe-guard") for t in threading.enumerate())


def test_guard_sums_the_commit_of_every_process_in_the_job(backend, tmp_path):
    """Three processes holding 16 MiB each: the job's usage is their sum (read past the
    first id of the job's process list), and 40 MiB of limit is crossed by the three."""
    events = []
    ctx, view, job = _container(backend, tmp_path, "trio", "256M")
    holders = []
    guard = ServiceGuard(0.01, events.append, backend.guard_target)
    try:
        holders = [start_in(job, HOLD_16M)[0] for _ in range(3)]
        guard.watch(ctx, view)
        assert _wait_for(lambda: guard.guard.usage("trio")[1] >= 3 * (16 << 20), 30), \
            guard.guard.usage("trio")
        assert events == [] and all(k32.GetExitCodeProcess(h) == STILL_ACTIVE for h in holders)
        guard.update(dataclasses.replace(ctx, limits=Limits(memory="40M")), view)
        assert all(k32.WaitForSingleObject(h, 30_000) == 0 for h in holders)
        assert _wait_for(lambda: events, 10) and events[0].usage >= 3 * (16 << 20), events
    finally:
        guard.stop()
        for process in holders:
            k32.TerminateProcess(process, 1)
        job.close()
