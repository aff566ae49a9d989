"""The Windows backend through ContainerService on a Windows CPython.

Under Wine a NetUserAdd account has no SID (LookupAccountNameW answers
ERROR_NONE_MAPPED), so no container can be completed there: the
``wine_stub`` test checks that this error surfaces with its call name and
that rollback leaves nothing behind.  The full lifecycle runs only on a real
Windows host (``windows_only``), as an administrator with quotas enforced on
the volume for the disk part.
"""

from __future__ import annotations

import os
import sys

import pytest

from ironframe_py import ContainerService, ContainerSpec, Limits, NotFound, ProcessSpec
from ironframe_py.backends.windows import _dll, users
from ironframe_py.backends.windows.backend import WindowsBackend


@pytest.fixture
def service(tmp_path):
    backend = WindowsBackend(str(tmp_path), profiles=_dll.has("user_profiles"))
    service = ContainerService(str(tmp_path), backend=backend, guard_interval=None)
    yield service
    for handle in service.list():
        service.destroy(handle)
    service.close()


def test_wine_stub_create_fails_where_accounts_have_no_sid_and_leaves_nothing(service):
    if not _dll.is_wine():
        pytest.skip("real Windows: the full lifecycle test covers creation")
    with pytest.raises(NotFound) as info:
        service.create(ContainerSpec(handle="wine-stub", limits=Limits(memory="64M", processes=4)))
    assert info.value.function == "LookupAccountNameW"
    assert service.list() == []
    assert not users.LocalUser.exists(users.user_name_for("wine-stub"))
    assert not os.path.exists(os.path.join(service.root, "containers", "wine-stub"))


@pytest.mark.windows_only
def test_container_lifecycle_on_a_real_host(service):
    container = service.create(ContainerSpec(handle="lifecycle", limits=Limits(memory="256M",
                                                                              processes=8)))
    name = users.user_name_for("lifecycle")
    assert users.LocalUser.exists(name)
    process = container.run(ProcessSpec([sys.executable, "-c", "import getpass; print(getpass.getuser())"],
                                        stdout=-1, text=True))
    out, _ = process.communicate(timeout=60)
    assert out.strip().lower() == name.lower()
    assert container.stats().processes is not None
    container.destroy()
    assert not users.LocalUser.exists(name)
    assert not os.path.exists(container.path)


@pytest.mark.windows_only
def test_guarded_container_over_its_memory_limit_is_stopped_and_the_event_recorded(tmp_path):
    """Windows enforces the job memory limit (allocations fail) and reports it on the
    job's completion port; the guard then stops the whole container, as Garden does."""
    backend = WindowsBackend(str(tmp_path), profiles=_dll.has("user_profiles"))
    with ContainerService(str(tmp_path), backend=backend, guard_interval=0.01) as service:
        container = service.create(ContainerSpec(handle="hog", limits=Limits(memory="64M", processes=8)))
        try:
            sleeper = container.run(ProcessSpec([sys.executable, "-c", "import time; time.sleep(120)"]))
            allocate = "x = [bytearray(1 << 20) for _ in range(512)]"
            hog = container.run(ProcessSpec([sys.executable, "-c", allocate]))
            assert hog.wait(60) != 0
            assert sleeper.wait(60) is not None  # the rest of the container went with it
            events = container.kill_events()
            assert events and events[0].limit == "memory" and events[0].value == 64 << 20, events
        finally:
            container.destroy()
