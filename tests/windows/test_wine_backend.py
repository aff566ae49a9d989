"""The Windows backend through ContainerService on a Windows CPython.

Under Wine a NetUserAdd account has no SID (LookupAccountNameW answers
ERROR_NONE_MAPPED), so no full-user container can be completed there: the
``wine_stub`` test checks that this error surfaces with its call name and
that rollback leaves nothing behind.  The full lifecycle, in both isolations,
is in test_wine_lifecycle.py (the full-user half on a real Windows host).
"""

from __future__ import annotations

import os

import pytest

from ironframe_py import ContainerService, ContainerSpec, Limits, NotFound
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
