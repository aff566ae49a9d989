"""``ContainerSpec(isolation="job")``: a container that is only a Job Object (issue 11).

On Windows: the job's limits and kill-on-close, the guard and output capture,
processes run as the caller's own user -- no user, DACL, quota or profile, and
no privilege needed.  Elsewhere: refused with the reason before anything is
made.  The Windows side runs here against the fake binding layer
(``tests/windows/windows_fake.py``) as a caller with no privilege at all; the whole
lifecycle runs for real under Wine in ``tests/windows/test_wine_lifecycle.py``.
"""

from __future__ import annotations

import os

import pytest
from windows_fake import FakeWindows

from ironframe_py import (
    ContainerService,
    ContainerSpec,
    Limits,
    ProcessSpec,
    SpecError,
    UnsupportedOnPlatform,
)
from ironframe_py.backends.windows._ffi import C
from ironframe_py.backends.windows.backend import WindowsBackend

SLEEP = ProcessSpec(["python.exe", "-c", "import time; time.sleep(60)"])
NO_PRIVILEGES: frozenset[str] = frozenset()  # an ordinary user's token, for our purposes


def _service(root, fake: FakeWindows) -> ContainerService:
    return ContainerService(str(root), backend=WindowsBackend(str(root), api=fake),
                            guard_interval=None)


def test_isolation_is_validated_by_the_spec():
    assert ContainerSpec().isolation == "user"
    assert ContainerSpec(isolation="job").isolation == "job"
    with pytest.raises(SpecError) as raised:
        ContainerSpec(isolation="vm")
    assert raised.value.field == "isolation" and "'user', 'job'" in raised.value.rule


@pytest.mark.fake_binding
def test_fake_binding_a_job_container_needs_no_privilege_and_makes_only_a_directory_and_a_job(
        tmp_path):
    fake = FakeWindows(privileges=NO_PRIVILEGES)
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="j", isolation="job",
                                                 limits=Limits(memory="64M", processes=8)))
        assert fake.users == {} and fake.profiles == set() and fake.quotas == {}
        assert fake.acls == {} and fake.enabled_privileges == set()
        (job,) = [j for j in fake.jobs.values() if j.handles > 0]
        flags = job.limit_flags()
        assert flags & C.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE and flags & C.JOB_OBJECT_LIMIT_JOB_MEMORY
        assert job.extended.JobMemoryLimit == 64 << 20
        assert os.path.isdir(container.path)
        process = container.run(SLEEP)
        child = fake.processes[process.pid]
        assert process.pid in job.pids and child.user is None and not child.suspended
        assert "CreateProcessWithTokenW" not in fake.calls and "LogonUserW" not in fake.calls
        assert container._live.view.stats().processes == 1
        container.destroy()
        assert process.wait(1) == 1
        assert not os.path.exists(container.path)
    assert fake.leftovers() == {}


@pytest.mark.fake_binding
def test_fake_binding_a_job_container_survives_a_restart_of_its_service_as_a_job_container(
        tmp_path):
    fake = FakeWindows(privileges=NO_PRIVILEGES)
    root = tmp_path / "svc"
    with _service(root, fake) as first:
        first.create(ContainerSpec(handle="j", isolation="job"))
    with _service(root, fake) as second:
        container = second.get("j")
        process = container.run(SLEEP)  # as the service's user again, in a fresh job
        assert fake.processes[process.pid].user is None
        container.destroy()
        process.wait(1)
    assert fake.leftovers() == {}


@pytest.mark.fake_binding
def test_fake_binding_a_disk_limit_needs_a_user_and_is_refused_before_anything(tmp_path):
    fake = FakeWindows(privileges=NO_PRIVILEGES)
    with _service(tmp_path / "svc", fake) as service:
        with pytest.raises(UnsupportedOnPlatform, match="no user of its own"):
            service.create(ContainerSpec(handle="j", isolation="job", limits=Limits(disk="1G")))
        assert service.list() == []
    assert fake.leftovers() == {} and "CreateJobObject" not in fake.calls
