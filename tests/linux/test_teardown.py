"""What a hostile tenant leaves behind cannot break destroy(), and nothing of the service
is within its reach (as root, real containers; checks read the OS itself)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile

import pytest
from _support import need_root
from linux_support import make_root, mounts_under

from ironframe_py import PIPE, CleanupError, ContainerService, ContainerSpec, ResourceExhausted
from ironframe_py.backends.linux import users


def run(box, script: str) -> tuple[int, str, str]:
    proc = box.run(["/usr/bin/python3", "-S", "-c", script], stdout=PIPE, stderr=PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


DEEP_TREE = """
import os
for _ in range({depth}):
    os.mkdir("d")
    os.chdir("d")
open("leaf", "w").write("x")
print("ok")
"""


def test_a_5000_deep_tree_is_destroyed_and_the_uid_claim_goes_last(service):
    box = service.create(ContainerSpec(handle="deep"))
    status, out, err = run(box, DEEP_TREE.format(depth=5000))
    assert (status, out.strip()) == (0, "ok"), err
    claim = users.claim_path(box.uid)
    assert os.path.exists(claim)
    box.destroy()
    assert not os.path.lexists(box.path) and not os.path.exists(claim)
    assert service.list() == []


def test_symlinks_planted_in_the_container_are_not_followed(service):
    victim = tempfile.mkdtemp(prefix="ironframe-victim-")
    try:
        with open(os.path.join(victim, "precious"), "w") as file:
            file.write("host data")
        box = service.create(ContainerSpec(handle="linker"))
        # a root helper (the test) plants the links, as a tenant could with its own files
        os.symlink(victim, os.path.join(box.path, "to-host-dir"))
        os.symlink(os.path.join(victim, "precious"), os.path.join(box.path, "to-host-file"))
        os.makedirs(os.path.join(box.path, "a", "b"))
        os.symlink("/", os.path.join(box.path, "a", "b", "root"))
        box.destroy()
        assert not os.path.lexists(box.path)
        with open(os.path.join(victim, "precious")) as file:
            assert file.read() == "host data"
    finally:
        shutil.rmtree(victim)


def test_a_bind_mount_inside_the_container_is_unmounted_not_emptied(service):
    victim = tempfile.mkdtemp(prefix="ironframe-victim-")
    try:
        for name in ("one", "two"):
            with open(os.path.join(victim, name), "w") as file:
                file.write(name)
        box = service.create(ContainerSpec(handle="bound"))
        target = os.path.join(box.path, "deep", "mnt")
        os.makedirs(target)
        subprocess.run(["mount", "--bind", victim, target], check=True)
        assert mounts_under(box.path) == [target]
        box.destroy()
        assert mounts_under(box.path) == [] and not os.path.lexists(box.path)
        assert sorted(os.listdir(victim)) == ["one", "two"]
    finally:
        subprocess.run(["umount", "-l", victim], capture_output=True)
        shutil.rmtree(victim)


def test_a_failed_release_keeps_the_uid_claim_until_everything_is_gone(service, monkeypatch):
    box = service.create(ContainerSpec(handle="stuck"))
    claim = users.claim_path(box.uid)
    original = service.backend.release

    def failing(resource):
        if resource.kind == "dir":
            raise OSError(16, "injected: directory busy")
        original(resource)

    monkeypatch.setattr(service.backend, "release", failing)
    with pytest.raises(CleanupError):
        box.destroy()
    assert os.path.exists(claim), "the uid was released while the container's files remained"
    assert os.path.isdir(box.path)
    monkeypatch.setattr(service.backend, "release", original)
    box.destroy()
    assert not os.path.exists(claim) and not os.path.lexists(box.path)


def test_a_uid_a_host_process_runs_as_is_never_handed_out():
    need_root()
    root = make_root()
    base = random.randrange(3_000_000, 3_900_000)
    host = subprocess.Popen(["/bin/sleep", "60"], user=base, group=base)
    try:
        with ContainerService(root, uid_range=range(base, base + 2), guard_interval=0.01) as service:
            with service.create(ContainerSpec(handle="skips")) as box:
                assert box.uid == base + 1
                with pytest.raises(ResourceExhausted, match="no free uid"):
                    service.create(ContainerSpec(handle="none-left"))
            assert host.poll() is None, "the guard killed a host process as an escapee"
    finally:
        host.kill()
        host.wait()
        shutil.rmtree(root)


STORE_PROBE = """
import errno, fcntl, os, sys
for name in sys.argv[1:]:
    try:
        fd = os.open(name, os.O_RDONLY)
    except OSError as err:
        print(name.rsplit("/", 1)[1], errno.errorcode[err.errno])
        continue
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        print(name.rsplit("/", 1)[1], "LOCKED")
    except OSError as err:
        print(name.rsplit("/", 1)[1], "OPENED", errno.errorcode[err.errno])
"""


def test_the_state_store_is_unreadable_and_unlockable_from_a_container(service):
    with service.create(ContainerSpec(handle="snoop", env={"SECRET": "s3cr3t"})) as box:
        files = [os.path.join(service.root, "state.db" + suffix) for suffix in ("", "-wal", "-shm")]
        for name in files:
            assert os.stat(name).st_mode & 0o077 == 0, name
        proc = box.run(["/usr/bin/python3", "-S", "-c", STORE_PROBE, *files], stdout=PIPE, text=True)
        out, _ = proc.communicate(timeout=60)
        # hidden by the container's mount view (ENOENT); unreadable if it were not (EACCES)
        results = dict(line.split(" ", 1) for line in out.splitlines())
        assert set(results) == {"state.db", "state.db-wal", "state.db-shm"}, out
        assert set(results.values()) <= {"ENOENT", "EACCES"}, out


def test_a_uid_claimed_by_another_service_meanwhile_makes_create_pick_another(service, monkeypatch):
    base = random.randrange(3_000_000, 3_900_000)
    service.uid_range = range(base, base + 3)
    users.claim(base, "another service's root\nits-box\n")  # claimed after our check, before ours
    checks = []
    real = service.backend.uid_claimed

    def stale_once(uid: int) -> bool:
        checks.append(uid)
        return False if len(checks) == 1 else real(uid)

    monkeypatch.setattr(service.backend, "uid_claimed", stale_once)
    try:
        with service.create(ContainerSpec(handle="raced")) as box:
            assert box.uid == base + 1
            with open(users.claim_path(base)) as file:
                assert file.read().startswith("another service's root")
    finally:
        users.unclaim(base, "another service's root\nits-box\n")
    assert not os.path.exists(users.claim_path(base))
