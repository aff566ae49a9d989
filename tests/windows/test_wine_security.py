"""Users, directory ACLs and disk quotas on a Windows CPython (under Wine in CI, or on Windows).

Wine only stubs these: NetUserAdd's user is visible only inside the calling
process, LogonUserW always succeeds, ACLs are accepted but do not read
back, and ntdll does not export the NT quota calls.  Tests named
``wine_stub`` check that our calls are accepted and that our error paths
hold; tests marked ``windows_only`` check the OS's behaviour on a real host.
"""

from __future__ import annotations

import os

import pytest

from ironframe_py import AlreadyExists, NotFound, OSCallError, UnsupportedOnPlatform
from ironframe_py.backends.windows import _dll, acl, quota, users
from ironframe_py.backends.windows._api import advapi32, netapi32


@pytest.fixture
def user():
    """A fresh local user, deleted at teardown."""
    name = users.user_name_for(f"test-{os.getpid()}-{id(object())}")
    user = users.LocalUser.create(name)
    yield user
    users.delete_user(user.name)


def test_user_names_follow_ironframe_scheme():
    name = users.user_name_for("my-container")
    assert name.startswith("c_") and len(name) == 20 and name[2:] == name[2:].upper()
    assert users.user_name_for("my-container") == name != users.user_name_for("other")


def test_passwords_are_strong_and_fresh():
    first, second = users.generate_password(), users.generate_password()
    assert first != second and len(first) == users.PASSWORD_LENGTH
    assert any(c.isupper() for c in first) and any(c.islower() for c in first)
    assert any(c.isdigit() for c in first) and any(not c.isalnum() for c in first)


def test_wine_stub_user_is_created_visible_and_deleted(user):
    assert users.LocalUser.exists(user.name)
    assert netapi32.NetUserGetInfo(None, user.name)["name"] == user.name
    users.delete_user(user.name)
    assert not users.LocalUser.exists(user.name)
    users.delete_user(user.name)  # already gone: still fine


def test_wine_stub_unknown_user_raises_not_found():
    with pytest.raises(NotFound) as info:
        netapi32.NetUserGetInfo(None, "c_NOSUCHUSER0000000")
    assert info.value.function == "NetUserGetInfo" and info.value.winerror == 2221


def test_wine_stub_logon_is_accepted(user):
    token = user.logon()
    users.close_token(token)


def test_logon_without_a_known_password_is_refused(user):
    from ironframe_py import InvalidState

    stranger = users.LocalUser(user.name, None)
    with pytest.raises(InvalidState):
        stranger.logon()


def test_wine_stub_password_reset_is_refused_with_a_clear_error(user):
    if not _dll.is_wine():
        pytest.skip("real Windows: covered by test_password_reset_allows_a_new_logon")
    with pytest.raises(UnsupportedOnPlatform, match="NetUserSetInfo"):
        user.reset_password()


@pytest.mark.windows_only
def test_password_reset_allows_a_new_logon(user):
    old = user.password
    user.reset_password()
    assert user.password != old
    users.close_token(user.logon())


@pytest.mark.windows_only
def test_duplicate_user_raises_already_exists(user):
    with pytest.raises(AlreadyExists):
        netapi32.NetUserAdd(None, user.name, users.generate_password())


@pytest.mark.windows_only
def test_container_user_is_in_no_privileged_group(user):
    groups = {g.lower() for g in netapi32.NetUserGetLocalGroups(None, user.name)}
    assert groups <= {"users"}, groups


def test_well_known_sids_round_trip():
    system = advapi32.ConvertStringSidToSid(acl.SYSTEM_SID)
    assert advapi32.ConvertSidToStringSid(system) == acl.SYSTEM_SID
    assert advapi32.LookupAccountSid(system)[0] == "SYSTEM"
    admins_sid, domain, _ = advapi32.LookupAccountName("Administrators")
    assert advapi32.ConvertSidToStringSid(admins_sid) == acl.ADMINISTRATORS_SID


def test_wine_stub_protected_dacl_is_accepted(tmp_path):
    me = advapi32.token_user_sid(advapi32.OpenProcessToken(
        __import__("ironframe_py.backends.windows._api.kernel32", fromlist=["x"]).GetCurrentProcess(),
        0x0008))
    directory = acl.DirectoryAcl(str(tmp_path), me)
    directory.apply()
    protected, entries = directory.query()  # Wine: accepted, but does not read back as set
    assert isinstance(protected, bool) and all(e.sid.startswith("S-1-") for e in entries)


@pytest.mark.windows_only
def test_protected_dacl_reads_back_with_exactly_three_trustees(tmp_path, user):
    directory = acl.DirectoryAcl(str(tmp_path), user.sid())
    directory.apply()
    assert directory.is_applied()


def test_acl_on_a_missing_path_raises_not_found(tmp_path):
    system = advapi32.ConvertStringSidToSid(acl.SYSTEM_SID)
    with pytest.raises(NotFound) as info:
        acl.DirectoryAcl(str(tmp_path / "missing"), system).apply()
    assert info.value.function == "SetNamedSecurityInfoW"


def test_volume_of_a_path_is_its_drive(tmp_path):
    assert quota.volume_of(str(tmp_path)) == os.path.splitdrive(str(tmp_path))[0].upper()


def test_wine_stub_quota_calls_raise_quotas_unavailable(tmp_path):
    if _dll.has("ntfs_quota"):
        pytest.skip("this ntdll has the NT quota calls (real Windows)")
    system = advapi32.ConvertStringSidToSid(acl.SYSTEM_SID)
    disk = quota.DiskQuota(quota.volume_of(str(tmp_path)), system)
    for action in (disk.check_volume, lambda: disk.set_limit(1 << 20), disk.query, disk.delete):
        with pytest.raises(UnsupportedOnPlatform, match="NtSetQuotaInformationFile") as info:
            action()
        assert info.value.feature == "ntfs_quota"


@pytest.mark.windows_only
def test_quota_is_set_read_back_and_deleted(tmp_path, user):
    disk = quota.DiskQuota(quota.volume_of(str(tmp_path)), user.sid())
    try:
        disk.check_volume()
    except UnsupportedOnPlatform as err:
        pytest.skip(str(err))
    disk.set_limit(64 << 20)
    try:
        used, limit = disk.query()
        assert limit == 64 << 20 and used >= 0
    finally:
        disk.delete()


def test_typed_errors_carry_the_call_and_code():
    with pytest.raises(OSCallError) as info:
        advapi32.ConvertStringSidToSid("not a sid")
    assert info.value.function == "ConvertStringSidToSidW" and info.value.winerror
