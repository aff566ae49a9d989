"""Disk limits as the backend sees them: method choice, the recorded resource, sizes.

Real tests use a loop filesystem (root, loop devices) and check it with
independent tools; the quota method runs against the fake binding layer of
``test_quota`` and says so in its test names (``fake_binding``).
"""

from __future__ import annotations

import errno
import itertools
import json
import os

import pytest
from _support import need_root
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_loopfs import MIB, Place, _losetup, _mountinfo_entry, _write_as
from test_quota import HAS_QUOTA_KERNEL, PRJQUOTA, Q_SETQUOTA, FakeDiskLib

from ironframe_py import UnsupportedOnPlatform
from ironframe_py.backends.base import ContainerContext, Resource
from ironframe_py.spec import MAX_BYTES, MIN_DISK, Limits

UID = 2_000_321


def _ctx(path: str, disk: int, handle: str = "box") -> ContainerContext:
    return ContainerContext(handle=handle, uid=UID, gid=UID, path=path, limits=Limits(disk=disk),
                            env={})


# --- choosing the method ----------------------------------------------------------------------

def test_choose_method_is_loopfs_on_this_kernel():
    from ironframe_py.backends.linux import disk

    if not HAS_QUOTA_KERNEL:  # this CI kernel: quotactl is ENOSYS everywhere
        assert disk.choose_method("/tmp") == "loopfs"
        assert disk.choose_method("/") == "loopfs"


def test_choose_method_is_loopfs_on_ext4_without_prjquota(request):
    """True on any kernel: a filesystem mounted without project quotas gets a loopfs."""
    need_root()
    from ironframe_py.backends.linux import disk, loopfs

    image, mountpoint = Place(request).pair("plain")
    loopfs.create(image, mountpoint, 8 * MIB, 0, 0)
    assert disk.choose_method(mountpoint) == "loopfs"


@pytest.mark.fake_binding
def test_fake_binding_choose_method_is_quota_when_q_getinfo_answers(monkeypatch, tmp_path):
    from ironframe_py.backends.linux import disk, disk_api

    monkeypatch.setattr(disk_api, "lib", FakeDiskLib())
    assert disk.choose_method(str(tmp_path)) == "quota"


# --- the loopfs resource, for real ------------------------------------------------------------

def test_loopfs_resource_lifecycle(request):
    need_root()
    from ironframe_py.backends.linux import disk

    place = Place(request)
    image, mountpoint = place.pair("box")
    resource = disk.resource_for("loopfs", place.images, _ctx(mountpoint, 16 * MIB))
    assert resource.key == image and json.loads(json.dumps(resource.data)) == resource.data
    created = disk.create(resource)
    assert (created.kind, created.key) == (resource.kind, resource.key)
    assert _losetup(image) == [created.data["device"]] and created.data["fstype"] == "ext4"
    assert json.loads(json.dumps(created.data)) == created.data  # the store keeps it as JSON
    assert disk.method_of(created) == "loopfs"
    with open(os.path.join(mountpoint, "data"), "wb") as file:
        file.write(b"x" * MIB)
        os.fsync(file.fileno())
    used, limit = disk.usage(created)
    assert MIB <= used <= limit == 16 * MIB
    with pytest.raises(UnsupportedOnPlatform) as info:
        disk.resize(created, 32 * MIB)
    assert info.value.feature == "limit_disk"
    disk.remove(resource)  # the intent alone is enough: the device is found again
    assert _mountinfo_entry(mountpoint) is None and _losetup(image) == []
    assert not os.path.exists(image) and disk.usage(resource) == (None, 16 * MIB)
    disk.remove(created)


_names = itertools.count()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=MIN_DISK, max_value=6 * MIB))
def test_a_loopfs_never_holds_more_than_its_size(request, size):
    """Any byte count, aligned or not: the filesystem and what a writer gets fit in it."""
    need_root()
    from ironframe_py.backends.linux import loopfs

    image, mountpoint = Place(request).pair(f"size{next(_names)}")
    loopfs.create(image, mountpoint, size, UID, UID)
    try:
        used, total = loopfs.usage(mountpoint)
        assert used <= total <= size and os.stat(image).st_size == size
        code, written = _write_as(UID, os.path.join(mountpoint, "fill"), size)
        assert code == errno.ENOSPC and 0 < written <= size
    finally:
        loopfs.remove(image, mountpoint)


# --- the quota resource, against the fake binding -----------------------------------------------

@pytest.mark.fake_binding
def test_fake_binding_quota_resource_lifecycle(monkeypatch, tmp_path):
    from ironframe_py.backends.linux import disk, disk_api, quota

    lib = FakeDiskLib(dqblk={"curspace": 4096})
    monkeypatch.setattr(disk_api, "lib", lib)
    path = str(tmp_path / "box")
    resource = disk.resource_for("quota", "/unused", _ctx(path, 16 * MIB))  # before the dir exists
    assert resource.data == {"project": UID, "size": 16 * MIB, "device": quota.device_of(str(tmp_path))}
    os.mkdir(path)
    assert disk.create(resource) == resource
    kinds = [call.get("command", call.get("request")) for call in lib.calls]
    # The limit exists before the directory is charged to the project: no write escapes it.
    assert kinds == [Q_SETQUOTA, lib.real.FS_IOC_FSGETXATTR, lib.real.FS_IOC_FSSETXATTR]
    assert lib.calls[0]["type"] == PRJQUOTA and lib.calls[0]["id"] == UID
    assert lib.calls[2]["fsxattr"]["projid"] == UID
    assert disk.usage(resource) == (4096, 16 * MIB) and disk.method_of(resource) == "quota"
    bigger = disk.resize(resource, 32 * MIB)
    assert bigger.data["size"] == 32 * MIB and lib.calls[-1]["dqblk"]["bhardlimit"] == 32 * 1024
    disk.remove(bigger)
    assert lib.calls[-1]["command"] == Q_SETQUOTA and lib.calls[-1]["dqblk"]["bhardlimit"] == 0


@pytest.mark.fake_binding
@given(size=st.integers(min_value=MIN_DISK, max_value=MAX_BYTES))
def test_fake_binding_quota_limit_is_the_size_rounded_up_to_kib(size):
    from ironframe_py.backends.linux import disk_api, quota

    lib = FakeDiskLib()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(disk_api, "lib", lib)
        quota.set_limit("/dev/sdz1", UID, size)
    blocks = lib.calls[0]["dqblk"]["bhardlimit"]
    assert (blocks - 1) * 1024 < size <= blocks * 1024


@given(handle=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True),
       size=st.integers(min_value=MIN_DISK, max_value=MAX_BYTES))
def test_loopfs_resource_keeps_the_image_outside_the_container(handle, size):
    from ironframe_py.backends.linux import disk

    resource = disk.resource_for("loopfs", "/srv/root/images",
                                 _ctx(f"/srv/root/containers/{handle}", size, handle))
    assert os.path.dirname(resource.key) == "/srv/root/images"
    assert resource.data["size"] == size and resource.data["mountpoint"].endswith(handle)
    assert json.loads(json.dumps(resource.data)) == resource.data


def test_resource_kinds_are_the_methods():
    from ironframe_py.backends.linux import disk

    assert set(disk.KINDS) == {"loopfs", "quota"}
    with pytest.raises(KeyError):
        disk.remove(Resource("tape", "/x"))
