"""A damaged, truncated or lost state store stops the service with advice; nothing is forgotten.

And a full filesystem under the root fails create() cleanly: the store is not
corrupted, running containers keep running, and all works again once there
is space (as root: a real container, a real small filesystem).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from _support import REPO, need_root
from linux_support import assert_no_trace, cgroup_dirs_named, make_root, mounts_under

from ironframe_py import PIPE, ContainerService, ContainerSpec, StoreError


@pytest.fixture
def populated():
    """A root whose store records one detached container; the service is closed."""
    need_root()
    root = make_root()
    with ContainerService(root, guard_interval=None) as service:
        box = service.create(ContainerSpec(handle="remembered"), detached=True)
        uid = box.uid
    store = os.path.join(root, "state.db")
    good = store + ".good"
    shutil.copyfile(store, good)
    yield root, store, uid
    shutil.copyfile(good, store)  # put the real store back and clean up through it
    for suffix in ("-wal", "-shm"):
        if os.path.exists(store + suffix):
            os.unlink(store + suffix)
    with ContainerService(root, guard_interval=None) as service:
        service.destroy("remembered")
    assert_no_trace(root, "remembered", uid)
    shutil.rmtree(root)


def _refused(root: str) -> str:
    with pytest.raises(StoreError) as info:
        ContainerService(root, guard_interval=None)
    return str(info.value)


def test_a_damaged_store_is_refused_with_advice_and_left_as_it_was(populated):
    root, store, _ = populated
    with open(store, "r+b") as file:
        file.seek(0)
        file.write(b"this is not an sqlite database, it was overwritten" * 20)
    with open(store, "rb") as file:
        damaged = file.read()
    message = _refused(root)
    assert "damaged" in message and ".recover" in message and store in message
    with open(store, "rb") as file:
        assert file.read() == damaged
    assert os.path.isdir(os.path.join(root, "containers", "remembered"))


@pytest.mark.parametrize("how", ["emptied", "deleted", "halved"])
def test_a_lost_or_truncated_store_never_forgets_containers(populated, how):
    root, store, _ = populated
    if how == "deleted":
        os.unlink(store)
    else:
        size = os.path.getsize(store)
        os.truncate(store, 0 if how == "emptied" else size // 2)
    message = _refused(root)
    assert "remembered" in message or "damaged" in message
    assert os.path.isdir(os.path.join(root, "containers", "remembered"))


def test_the_cli_reports_a_damaged_store_in_one_line(populated):
    root, store, _ = populated
    with open(store, "r+b") as file:
        file.write(b"\0garbage" * 100)
    result = subprocess.run([sys.executable, "-m", "ironframe_py", "--root", root, "list"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 125 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "state store" in lines[0] and "damaged" in lines[0]


@pytest.fixture
def small_root():
    """A service root on its own 24 MiB ext4 filesystem, so that the test can fill it.

    Not below /tmp: a container's view puts its private /tmp there."""
    need_root()
    scratch = tempfile.mkdtemp(prefix="ironframe-fullfs-", dir="/mnt")
    os.chmod(scratch, 0o711)
    image, mountpoint = os.path.join(scratch, "fs.img"), os.path.join(scratch, "root")
    os.mkdir(mountpoint)
    subprocess.run(["truncate", "-s", "24M", image], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", image], check=True)
    subprocess.run(["mount", "-o", "loop", image, mountpoint], check=True)
    os.chmod(mountpoint, 0o711)
    yield mountpoint
    subprocess.run(["umount", "-l", mountpoint], check=False)
    if not mounts_under(scratch):
        shutil.rmtree(scratch)


def _fill(path: str) -> None:
    with open(path, "wb") as file:
        try:
            while True:
                file.write(b"\0" * (1 << 20))
                file.flush()
        except OSError:
            pass  # ENOSPC: the filesystem is full, which is the point
        try:
            while True:
                file.write(b"\0" * 4096)
                file.flush()
        except OSError:
            pass  # and the last blocks too


def test_a_full_filesystem_fails_create_cleanly_and_recovers(small_root):
    with ContainerService(small_root, guard_interval=None) as service:
        running = service.create(ContainerSpec(handle="running"))
        sleeper = running.run(["/bin/sleep", "300"])
        filler = os.path.join(small_root, "filler")
        _fill(filler)
        with pytest.raises(Exception) as info:
            for index in range(20):  # the store's pages may still have room for a row or two
                service.create(ContainerSpec(handle=f"nospace{index}",
                                             env={"PAD": "x" * 60_000}))
        assert isinstance(info.value, (StoreError, OSError)), repr(info.value)
        print("create on a full filesystem:", repr(info.value))
        assert "full" in str(info.value) or "No space" in str(info.value)
        assert sleeper.poll() is None  # the running container keeps running
        assert "running" in service.list()
        os.unlink(filler)
        again = service.create(ContainerSpec(handle="after"))
        proc = again.run(["/bin/sh", "-c", "echo ok"], stdout=PIPE, text=True)
        assert proc.communicate(timeout=30)[0].strip() == "ok"
        for handle in service.list():
            service.destroy(handle)
        assert service.list() == []
        assert all(cgroup_dirs_named(f"nospace{index}") == [] for index in range(20))
        assert sorted(os.listdir(os.path.join(small_root, "containers"))) == []
    with ContainerService(small_root, guard_interval=None) as reopened:  # the store is intact
        assert reopened.list() == []
