"""The Windows backend against what Microsoft documents Windows to do (issue 11).

Each test drives the backend through the fake binding layer
(``tests/windows/windows_fake.py``) where the fake answers as a documented Windows
behaviour, or a tier-1 call through a fake of its raw DLL export; each of
these failed on the code before the matching fix.  The comments in the fake
cite the documentation.
"""

from __future__ import annotations

import os

import pytest
from windows_fake import (
    ADMINISTRATORS_SID,
    CPWT_FLAGS,
    LOCAL_SYSTEM_PRIVILEGES,
    FakeAdvapi32Dll,
    FakeWindows,
    make_sid,
    sid_length,
)

from ironframe_py import (
    AccessDenied,
    ContainerService,
    ContainerSpec,
    Limits,
    OSCallError,
    ProcessSpec,
    SpecError,
)
from ironframe_py import _winerror as W  # noqa: N812
from ironframe_py.backends.windows import launch
from ironframe_py.backends.windows._api import advapi32
from ironframe_py.backends.windows._ffi import C, ffi
from ironframe_py.backends.windows.backend import WindowsBackend
from ironframe_py.backends.windows.job import JobObject

pytestmark = pytest.mark.fake_binding

SLEEP = ProcessSpec(["python.exe", "-c", "import time; time.sleep(60)"])


def _service(root, fake: FakeWindows, **options) -> ContainerService:
    backend = WindowsBackend(str(root), api=fake, **options)
    return ContainerService(str(root), backend=backend, guard_interval=None)


def _container_job(fake: FakeWindows):
    """The one job our backend made (not the Secondary Logon service's)."""
    jobs = [job for job in fake.jobs.values() if job.owner == "host" and job.handles > 0]
    assert len(jobs) == 1, jobs
    return jobs[0]


def _job_handle(fake: FakeWindows, job):
    value = next(h for h, (kind, obj) in fake.open_handles.items() if kind == "job" and obj is job)
    return ffi.cast("HANDLE", value)


# --- 5: ERROR_MORE_DATA for a process-id list that does not fit ---------------------------------

def test_fake_binding_a_job_of_100_processes_lists_counts_and_kills_them_all(tmp_path):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="many"))
        job = _container_job(fake)
        pids = [fake.start_process(_job_handle(fake, job)) for _ in range(100)]
        assert sorted(container._live.view.pids()) == sorted(pids)
        assert container._live.view.stats().memory_usage == 100 << 20
        container.destroy()
    assert all(fake.processes[pid].exit_code is not None for pid in pids)
    assert fake.leftovers() == {}


def test_fake_binding_job_pids_grow_the_buffer_past_any_first_guess():
    fake = FakeWindows()
    job = JobObject(api=fake)
    pids = [fake.start_process(job.handle) for _ in range(1000)]
    assert job.pids() == pids
    job.close()


# --- 3: a SID is GetLengthSid bytes long, not the buffer's size ---------------------------------

def test_tier1_lookup_account_name_returns_the_sid_at_its_own_length(monkeypatch):
    sid = make_sid(5, 21, 1, 2, 3, 1001)  # 28 bytes, in a 68-byte first buffer
    monkeypatch.setattr(advapi32, "_adv", lambda: FakeAdvapi32Dll(sid))
    found, domain, use = advapi32.LookupAccountName("c_X")
    assert found == sid and len(found) == sid_length(found) == 28
    assert domain == "FAKEHOST" and use == C.SidTypeUser


# --- 2: seclogon's job of its own, and jobs with UI limits do not nest ---------------------------

def test_fake_binding_a_process_started_as_the_container_user_runs_in_the_container_job(tmp_path):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="web", limits=Limits(memory="64M")))
        process = container.run(SLEEP)
        child = fake.processes[process.pid]
        assert process.pid in _container_job(fake).pids  # nested inside seclogon's job
        assert not child.suspended and child.exit_code is None and child.user is not None
        assert _container_job(fake).ui == 0
        container.destroy()
        assert process.wait(1) == 1 and child.exit_code is not None
    assert fake.leftovers() == {}


def test_fake_binding_as_local_system_every_process_starts_in_the_container_job(tmp_path):
    """LocalSystem may use CreateProcessAsUserW with a job list: each child is created inside
    the container's job, however many there are."""
    fake = FakeWindows(privileges=LOCAL_SYSTEM_PRIVILEGES)
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="web"))
        processes = [container.run(SLEEP) for _ in range(3)]
        assert {p.pid for p in processes} <= set(_container_job(fake).pids)
        assert all(fake.processes[p.pid].user is not None for p in processes)
        assert not any(job.owner == "seclogon" for job in fake.jobs.values())
        container.destroy()
        assert all(p.wait(1) == 1 for p in processes)
    assert fake.leftovers() == {}


def test_fake_binding_as_an_administrator_a_second_seclogon_child_is_refused_clearly(tmp_path):
    """Inferred (not documented for CreateProcessWithTokenW): each seclogon child has a job of
    its own, and a job can nest in only one of them -- so the second launch is refused, and
    the error says how to avoid it."""
    fake = FakeWindows()  # an administrator: no SeAssignPrimaryTokenPrivilege
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="web"))
        first = container.run(SLEEP)
        with pytest.raises(AccessDenied) as raised:
            container.run(SLEEP)
        assert "LocalSystem" in "".join(getattr(raised.value, "__notes__", []))
        assert [p.pid for p in fake.processes.values() if p.exit_code is None] == [first.pid]
        container.destroy()
        first.wait(1)
    assert fake.leftovers() == {}


def test_fake_binding_a_child_refused_by_the_job_is_killed_and_the_error_names_nesting(tmp_path):
    """A job that cannot take a child already in another job: the child never runs."""
    fake = FakeWindows()
    job = JobObject(api=fake)
    info = ffi.new("JOBOBJECT_BASIC_UI_RESTRICTIONS *")
    info.UIRestrictionsClass = C.JOB_OBJECT_UILIMIT_ALL  # what the backend used to set
    fake.kernel32.SetInformationJobObject(job.handle, C.JobObjectBasicUIRestrictions, info)
    token = _token_for(fake)
    before = set(fake.processes)
    with pytest.raises(AccessDenied) as raised:
        launch.spawn(job, ["python.exe"], {}, "C:\\", handles=_nul_handles(fake), token=token,
                     api=fake)
    assert "job of its own" in "".join(getattr(raised.value, "__notes__", []))
    (pid,) = set(fake.processes) - before
    assert fake.processes[pid].exit_code is not None  # never resumed, terminated
    fake.kernel32.CloseHandle(token)
    job.close()
    assert {k for k in fake.leftovers().get("handles", {}).values()} <= {"file"}


def _token_for(fake: FakeWindows):
    fake.netapi32.NetUserAdd(None, "c_test", "pw")
    fake.enabled_privileges.add("SeImpersonatePrivilege")
    return fake.advapi32.LogonUser("c_test", ".", "pw", C.LOGON32_LOGON_INTERACTIVE)


def _nul_handles(fake: FakeWindows) -> list:
    nul = fake.kernel32.CreateFile("NUL", 0, 0, C.OPEN_EXISTING, 0)
    return [nul, nul, nul]


# --- 4: LoadUserProfileW needs SeRestore and SeBackup enabled ------------------------------------

def test_fake_binding_create_enables_the_privileges_profiles_and_launches_need(tmp_path):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        service.create(ContainerSpec(handle="web"))
        assert {"SeImpersonatePrivilege", "SeRestorePrivilege", "SeBackupPrivilege",
                "SeDebugPrivilege"} <= fake.enabled_privileges
        assert len(fake.profiles) == 1
        service.destroy("web")
    assert fake.leftovers() == {}


def test_fake_binding_a_host_without_the_profile_privileges_is_told_which_it_lacks(tmp_path):
    fake = FakeWindows(privileges=frozenset({"SeImpersonatePrivilege"}))
    with _service(tmp_path / "svc", fake) as service:
        with pytest.raises(OSCallError) as raised:
            service.create(ContainerSpec(handle="web"))
        assert raised.value.winerror == W.ERROR_NOT_ALL_ASSIGNED
        assert "SeRestorePrivilege" in str(raised.value)
        assert service.list() == []
    assert fake.leftovers() == {}


# --- 1: std handles can be -2 (GetCurrentThread's pseudo-handle) ----------------------------------

def test_fake_binding_a_service_without_a_console_gives_the_child_nul_not_its_thread(tmp_path):
    fake = FakeWindows(console=False)
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="web"))
        process = container.run(SLEEP)
        assert fake.processes[process.pid].std == ("file:NUL",) * 3
        container.destroy()
        process.wait(1)
    assert fake.leftovers() == {}


def test_fake_binding_a_std_handle_that_is_no_file_is_refused_before_any_process(tmp_path):
    fake = FakeWindows()
    job = JobObject(api=fake)
    thread = fake.kernel32.DuplicateHandle(ffi.cast("HANDLE", -2), False)
    fake.host_handles[7] = int(ffi.cast("uintptr_t", thread))
    before = set(fake.processes)
    with pytest.raises(SpecError, match="stdout"):
        launch.spawn(job, ["python.exe"], {}, "C:\\", (None, 7, None), api=fake)
    assert set(fake.processes) == before
    fake.kernel32.CloseHandle(thread)
    job.close()
    assert set(fake.leftovers().get("handles", {}).values()) <= set()


# --- 9: NTSTATUS results of quota deletes; the volume checked before anything is made -----------

def test_fake_binding_destroy_takes_a_missing_quota_entry_as_gone(tmp_path):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        service.create(ContainerSpec(handle="web", limits=Limits(disk="10M")))
        fake.quotas.clear()  # an operator removed it (or NTFS never kept it)
        service.destroy("web")
        assert service.list() == []
    assert fake.leftovers() == {}


def test_fake_binding_destroy_after_quotas_were_turned_off_on_the_volume(tmp_path):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        service.create(ContainerSpec(handle="web", limits=Limits(disk="10M")))
        fake.quota_flags = 0  # fsutil quota disable C: (the entries go with it)
        fake.quotas.clear()
        service.destroy("web")
        assert service.list() == []
    assert fake.leftovers() == {}


def test_fake_binding_a_volume_without_enforced_quotas_fails_create_before_any_resource(tmp_path):
    fake = FakeWindows(quota_flags=C.FILE_VC_QUOTA_TRACK)
    with _service(tmp_path / "svc", fake) as service:
        before = len(fake.calls)
        with pytest.raises(Exception, match="fsutil quota enforce C:"):
            service.create(ContainerSpec(handle="web", limits=Limits(disk="10M")))
        assert service.list() == []  # no record left 'destroying' by a failed rollback
        assert "NetUserAdd" not in fake.calls[before:]
    assert fake.leftovers() == {}


# --- 7: CreateProcessWithTokenW's command-line limit and creation flags ------------------------

def test_fake_binding_a_command_line_over_1024_characters_is_refused_naming_the_limit(tmp_path):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="web"))
        before = set(fake.processes)
        with pytest.raises(SpecError, match="1024") as raised:
            container.run(ProcessSpec(["python.exe", "-c", "x" * 1100]))
        assert raised.value.field == "argv"
        assert set(fake.processes) == before
        process = container.run(ProcessSpec(["python.exe", "-c", "x" * 900]))  # under: it runs
        container.destroy()
        process.wait(1)
    assert fake.leftovers() == {}


def test_fake_binding_processes_started_with_a_token_use_only_documented_flags(tmp_path):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="web"))
        process = container.run(SLEEP)
        flags = fake.processes[process.pid].flags
        assert flags & ~CPWT_FLAGS == 0 and flags & C.CREATE_SUSPENDED
        container.destroy()
        process.wait(1)


# --- 8: a failed assignment cleans up, whatever its error ------------------------------------------

def test_fake_binding_a_launch_over_the_process_limit_leaks_no_handle_and_no_process():
    """Windows kills what an active-process limit refuses; we must still close its handles and
    not fail on TerminateProcess of a process already dead."""
    fake = FakeWindows()
    job = JobObject(api=fake)
    job.set_limits(active_processes=1, kill_on_close=True)
    fake.start_process(job.handle)
    nul = _nul_handles(fake)
    handles_before = dict(fake.open_handles)
    with pytest.raises(OSCallError) as raised:
        launch.spawn(job, ["python.exe"], {}, "C:\\", handles=nul, api=fake)
    assert raised.value.winerror == W.ERROR_NOT_ENOUGH_QUOTA
    assert {v: k for v, (k, _) in fake.open_handles.items() if v not in handles_before} == {}
    assert len([p for p in fake.processes.values() if p.exit_code is None]) == 1
    fake.kernel32.CloseHandle(nul[0])
    job.close()
    assert fake.leftovers() == {}


# --- 10: taking back a file the container locked the host out of ---------------------------------

def test_fake_binding_destroy_takes_back_a_file_the_container_locked_us_out_of(tmp_path, monkeypatch):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="web"))
        locked = os.path.join(container.path, "deep", "locked.txt")
        os.makedirs(os.path.dirname(locked))
        with open(locked, "w") as file:
            file.write("mine")
        fake.locked.add(locked)  # the container user took our access away
        real_unlink = os.unlink

        def unlink(path, *, dir_fd=None):
            if os.path.basename(path) == "locked.txt" and locked in fake.locked:
                raise PermissionError(13, "Access is denied", path)
            return real_unlink(path, dir_fd=dir_fd)

        monkeypatch.setattr(os, "unlink", unlink)
        service.destroy("web")
        assert service.list() == []
    assert not os.path.exists(container.path)
    assert fake.owners[locked] == ADMINISTRATORS_SID
    assert fake.leftovers() == {}


def test_fake_binding_a_file_that_cannot_be_taken_back_fails_destroy_loudly(tmp_path, monkeypatch):
    fake = FakeWindows()
    with _service(tmp_path / "svc", fake) as service:
        container = service.create(ContainerSpec(handle="web"))
        locked = os.path.join(container.path, "locked.txt")
        open(locked, "w").close()
        real_unlink = os.unlink

        def unlink(path, *, dir_fd=None):
            if os.path.basename(path) == "locked.txt":
                raise PermissionError(13, "Access is denied", path)
            return real_unlink(path, dir_fd=dir_fd)

        monkeypatch.setattr(os, "unlink", unlink)
        with pytest.raises(Exception, match="destroy"):
            service.destroy("web")
        assert service.list() == ["web"]  # kept, state destroying: destroy() may be retried
        monkeypatch.setattr(os, "unlink", real_unlink)
        service.destroy("web")
    assert fake.leftovers() == {}


# --- 11: the logon right, named when it is missing ----------------------------------------------

def test_fake_binding_a_user_without_the_logon_right_is_told_which_right(tmp_path):
    fake = FakeWindows()
    original = fake.netapi32._functions["NetUserAdd"]

    def add_without_rights(server, name, password, comment="", flags=0):
        original(server, name, password, comment, flags)
        fake.users[name.lower()]["logon_rights"] = set()  # a hardened baseline

    fake.netapi32._functions["NetUserAdd"] = add_without_rights
    with _service(tmp_path / "svc", fake) as service:
        with pytest.raises(OSCallError) as raised:
            service.create(ContainerSpec(handle="web"))
        assert raised.value.winerror == W.ERROR_LOGON_TYPE_NOT_GRANTED
        assert "Allow log on locally" in "".join(getattr(raised.value, "__notes__", []))
        assert service.list() == []
    assert fake.leftovers() == {}


# --- issue 8, item 6: open() is pure --------------------------------------------------------------

def test_fake_binding_get_destroy_and_recover_after_the_host_died_create_no_job(tmp_path):
    """The jobs went with the dead host (kill-on-close); looking at, destroying or recovering
    its containers must not make new ones -- only a run does."""
    root = tmp_path / "svc"
    fake = FakeWindows()
    first = _service(root, fake)
    for handle in ("a", "b", "c"):
        first.create(ContainerSpec(handle=handle))
    _host_died(first, fake)
    made = fake.calls.count("CreateJobObject")
    with _service(root, fake) as second:
        container = second.get("a")
        assert container._live.view.pids() == [] and container._live.view.stats().processes == 0
        second.destroy("b")
        assert sorted(second.recover()) == ["c"]  # "a" is held open by this service
        assert fake.calls.count("CreateJobObject") == made
        process = container.run(SLEEP)  # a run needs a job: now one is made
        assert fake.calls.count("CreateJobObject") == made + 1
        second.destroy("a")
        assert process.wait(1) == 1 and second.list() == []
    assert fake.leftovers() == {}


def _host_died(service: ContainerService, fake: FakeWindows) -> None:
    """What Windows does when the host process dies: its handles close (kill-on-close fires)."""
    from ironframe_py import service as service_module

    for value in [v for v, (kind, _) in fake.open_handles.items() if kind == "job"]:
        fake.kernel32.CloseHandle(ffi.cast("HANDLE", value))
    service_module._OPEN_SERVICES.discard(service._owner[2])
    service.store.close()
