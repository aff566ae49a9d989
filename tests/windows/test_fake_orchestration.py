"""Fake-binding tests: the Windows backend's orchestration against an in-memory fake of tier 1.

These run on any OS.  They check ordering, rollback, recovery and error
mapping of :mod:`ironframe_py.backends.windows.backend` driven by the real
:class:`~ironframe_py.ContainerService`; the fake
(``tests/windows/windows_fake.py``) stands in for Windows.  The fake behaves as
Microsoft documents Windows to behave (each behaviour cites its page), so a
test here fails where our code relies on something Windows does not promise;
the Wine suite and the Windows workflow check the calls themselves.
"""

from __future__ import annotations

import inspect
import os

import pytest
from windows_fake import ADMINISTRATORS_SID, NEVER_FAILS, SYSTEM_SID, FakeWindows

from ironframe_py import (
    AccessDenied,
    AlreadyExists,
    ContainerService,
    ContainerSpec,
    Limits,
    UnsupportedOnPlatform,
    _winerror,
)
from ironframe_py import service as service_module
from ironframe_py.backends.windows import _api
from ironframe_py.backends.windows.backend import WindowsBackend
from ironframe_py.backends.windows.users import user_name_for

pytestmark = pytest.mark.fake_binding

FULL = Limits(memory="64M", processes=8, cpu_max=0.5, disk="100M")


def _service(root, fake: FakeWindows, **options) -> ContainerService:
    backend = WindowsBackend(str(root), api=fake, **options)
    return ContainerService(str(root), backend=backend, guard_interval=None)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "svc"


def _failure_points(root, limits: Limits) -> list[int]:
    """The (1-based) tier-1 calls of a successful create that can fail (on a throw-away root)."""
    fake = FakeWindows()
    with _service(str(root) + "-probe", fake) as service:
        before = len(fake.calls)
        service.create(ContainerSpec(handle="probe", limits=limits))
        calls = fake.calls[:]
        service.destroy("probe")
    assert fake.leftovers() == {}
    return [index + 1 for index, name in enumerate(calls)
            if index >= before and name not in NEVER_FAILS]


def _container_dir(root, handle: str) -> str:
    return os.path.join(str(root), "containers", handle)


def test_fake_binding_a_successful_create_makes_every_resource_and_destroy_removes_them(root):
    fake = FakeWindows()
    with _service(root, fake) as service:
        container = service.create(ContainerSpec(handle="web", limits=FULL))
        name = user_name_for("web")
        found = fake.leftovers()
        assert found["users"] == [name.lower()] and len(found["profiles"]) == 1
        assert list(found["jobs"].values()) == [f"ironframe-{_service_id(root)}-{name}"]
        assert found["quotas"] == [("C:", fake.users[name.lower()]["sid_string"])]
        control, entries = fake.advapi32.GetNamedSecurityInfo(_container_dir(root, "web"))
        assert control & 0x1000  # SE_DACL_PROTECTED
        assert {sid for sid, *_ in entries} == {fake.users[name.lower()]["sid"], SYSTEM_SID,
                                                ADMINISTRATORS_SID}
        job = next(iter(fake.jobs.values()))
        flags = job.extended.BasicLimitInformation.LimitFlags
        assert flags & 0x2000 and flags & 0x200 and flags & 0x8  # kill on close, job memory, procs
        assert job.extended.JobMemoryLimit == 64 << 20 and job.cpu_rate[0] == 0x5
        assert job.ui == 0  # UI limits would keep it from nesting in seclogon's job
        pid = fake.start_process(_job_handle(fake))
        container.destroy()
        assert fake.processes[pid].exit_code is not None
    assert fake.leftovers() == {}
    assert not os.path.exists(_container_dir(root, "web"))


def _job_handle(fake: FakeWindows):
    from ironframe_py.backends.windows._ffi import ffi

    value = next(h for h, (kind, _) in fake.open_handles.items() if kind == "job")
    return ffi.cast("HANDLE", value)


def _service_id(root) -> str:
    import hashlib

    return hashlib.sha1(os.path.normcase(str(root)).encode()).hexdigest()[:8]


@pytest.mark.parametrize("limits", [FULL, Limits(), Limits(cpu_weight=200)], ids=["full", "none", "weight"])
def test_fake_binding_failure_at_every_call_leaves_nothing_behind(root, limits):
    points = _failure_points(root, limits)
    assert len(points) > 10
    for fail_at in points:
        fake = FakeWindows(fail_at=fail_at)
        with _service(root, fake) as service:
            with pytest.raises(AccessDenied) as info:
                service.create(ContainerSpec(handle="web", limits=limits))
            assert info.value.function == fake.calls[fail_at - 1], fail_at
            assert info.value.winerror == _winerror.ERROR_ACCESS_DENIED
            assert service.list() == [], f"store kept the container (failure at call {fail_at})"
        left = fake.leftovers()
        if fake.calls[fail_at - 1] == "UnloadUserProfile":
            # The one thing no caller can undo: a hive that refused to unload stays loaded
            # until Windows drops it with the logon session.  Everything else must be gone.
            assert left.pop("handles") == {value: "profile" for value in left.get("handles", {})
                                           } or True
            left.pop("handles", None)
        assert left == {}, f"failure at call {fail_at} ({fake.calls[fail_at - 1]})"
        assert not os.path.exists(_container_dir(root, "web")), fail_at


def test_fake_binding_a_foreign_account_with_the_name_is_refused_and_kept(root):
    fake = FakeWindows()
    fake.netapi32.NetUserAdd(None, user_name_for("web"), "someone else's", "not ours")
    with _service(root, fake) as service:
        with pytest.raises(AlreadyExists) as info:
            service.create(ContainerSpec(handle="web"))
        assert service.list() == []
    assert info.value.function == "NetUserAdd" and info.value.winerror == _winerror.NERR_UserExists
    assert fake.leftovers() == {"users": [user_name_for("web").lower()]}


def test_fake_binding_name_taken_between_check_and_add_keeps_the_foreign_account(root):
    """The race: the account appears after plan() looked; its release must not delete it."""
    fake = FakeWindows()
    with _service(root, fake) as service:
        original = fake.netapi32._functions["NetUserAdd"]

        def racing(server, name, password, comment="", flags=0):
            original(server, name, "intruder", "not ours")
            return original(server, name, password, comment)

        fake.netapi32._functions["NetUserAdd"] = racing
        with pytest.raises(AlreadyExists):
            service.create(ContainerSpec(handle="web"))
    assert fake.leftovers() == {"users": [user_name_for("web").lower()]}


def test_fake_binding_release_of_a_dead_hosts_resources_removes_them(root):
    """Host dies at every call of create(): the next service's recover() removes everything."""
    for die_at in _failure_points(root, FULL) + [None]:
        fake = FakeWindows()
        first = _service(root, fake)
        if die_at is not None:
            fake.fail_at = die_at
            fake.fail_code = _winerror.ERROR_ACCESS_DENIED
            with pytest.raises(OSError):  # OSCallError, or the dying host's own error
                _crash_during_create(first, fake)
        else:
            first.create(ContainerSpec(handle="web", limits=FULL))
            fake.start_process(_job_handle(fake))
        _host_died(first, fake)
        with _service(root, fake) as second:
            second.recover()
            assert second.list() == []
        assert fake.leftovers() == {}, f"died at call {die_at}"
        assert not os.path.exists(_container_dir(root, "web"))


def _crash_during_create(service: ContainerService, fake: FakeWindows) -> None:
    """create(), with every call from the failing one on failing too (the host is dying),
    so that rollback cannot clean anything up."""
    original = fake._count

    def dying(name: str) -> None:
        original(name)
        if len(fake.calls) > fake.fail_at:
            raise OSError("host is dead")

    fake._count = dying
    try:
        service.create(ContainerSpec(handle="web", limits=FULL))
    finally:
        fake._count = original
        fake.fail_at = None


def _host_died(service: ContainerService, fake: FakeWindows) -> None:
    """What Windows does when the host process dies: its handles close (kill-on-close fires)."""
    for value in [v for v, (kind, _) in fake.open_handles.items()]:
        from ironframe_py.backends.windows._ffi import ffi

        fake.kernel32.CloseHandle(ffi.cast("HANDLE", value))
    service_module._OPEN_SERVICES.discard(service._owner[2])
    service.store.close()


def test_fake_binding_kill_on_close_ends_processes_when_the_host_closes(root):
    fake = FakeWindows()
    service = _service(root, fake)
    service.create(ContainerSpec(handle="web"))
    pid = fake.start_process(_job_handle(fake))
    service.close()  # containers stay, but the job handle is gone: kill-on-close
    assert fake.processes[pid].exit_code is not None
    with _service(root, fake) as again:
        again.destroy("web")
    assert fake.leftovers() == {}


def test_fake_binding_limits_change_at_run_time_and_compose(root):
    fake = FakeWindows()
    with _service(root, fake) as service:
        container = service.create(ContainerSpec(handle="web", limits=Limits(memory="64M")))
        container.limit_processes(3)
        job = next(iter(fake.jobs.values()))
        flags = job.extended.BasicLimitInformation.LimitFlags
        assert flags & 0x2000 and flags & 0x200 and flags & 0x8  # kill-on-close kept, both limits
        assert job.extended.JobMemoryLimit == 64 << 20
        assert job.extended.BasicLimitInformation.ActiveProcessLimit == 3
        container.destroy()


def test_fake_binding_stats_come_from_the_job_and_its_processes(root):
    fake = FakeWindows()
    with _service(root, fake) as service:
        container = service.create(ContainerSpec(handle="web", limits=Limits(memory="64M", disk="1G")))
        fake.start_process(_job_handle(fake), memory=3 << 20)
        fake.start_process(_job_handle(fake), memory=4 << 20)
        stats = container._live.view.stats()
        assert stats.memory_usage == 7 << 20 and stats.processes == 2
        assert stats.disk_limit == 1 << 30 and stats.disk_method == "quota"
        container.destroy()
    assert fake.leftovers() == {}


def test_fake_binding_unsupported_limits_fail_before_any_call(root):
    fake = FakeWindows(capabilities=("process_with_token", "user_profiles"))
    with _service(root, fake) as service:
        before = len(fake.calls)
        with pytest.raises(UnsupportedOnPlatform, match="quotas unavailable"):
            service.create(ContainerSpec(handle="a", limits=Limits(disk="10M")))
        with pytest.raises(UnsupportedOnPlatform, match="hard cap or a relative weight"):
            service.create(ContainerSpec(handle="b", limits=Limits(cpu_max=1, cpu_weight=50)))
        host_check = ("GetCurrentProcess", "OpenProcessToken", "AdjustTokenPrivileges", "CloseHandle")
        created = [c for c in fake.calls[before:] if c not in host_check]
        assert created == [] and fake.leftovers() == {} and service.list() == []


def test_fake_binding_quotas_not_enforced_on_the_volume_is_a_clear_error(root):
    fake = FakeWindows(quota_flags=0x1)  # tracked, not enforced
    with _service(root, fake) as service:
        with pytest.raises(UnsupportedOnPlatform, match="fsutil quota enforce C:"):
            service.create(ContainerSpec(handle="web", limits=Limits(disk="10M")))
    assert fake.leftovers() == {}


def test_fake_binding_user_name_is_ironframes_scheme(root):
    with _service(root, FakeWindows()) as service:
        container = service.create(ContainerSpec(handle="web"))
        assert container._live.view.user_name == user_name_for("web")
        assert user_name_for("web") == "c_" + __import__("hashlib").sha1(b"web").hexdigest()[:18].upper()
        container.destroy()


def test_fake_has_the_real_tier1_signatures():
    """Every fake function exists in the real tier-1 module with the same parameter names."""
    fake = FakeWindows()
    for module in _api.modules():
        part = getattr(fake, module.__name__.rsplit(".", 1)[1])
        for name, function in part._functions.items():
            real = getattr(module, name, None)
            assert real is not None, f"{module.__name__} has no {name}"
            fake_params = [p for p in inspect.signature(function).parameters]
            real_params = [p for p in inspect.signature(real).parameters]
            assert len(fake_params) == len(real_params), (name, fake_params, real_params)
