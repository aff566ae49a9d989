"""Loop devices and the per-container loop filesystem, for real (root, /dev/loop-control).

The oracles are independent of the code under test: /proc/self/mountinfo
parsed here, ``losetup -j``, sysfs, stat(2), and a write as the container
uid.  Every image, loop device and mount a test makes is registered for
cleanup (with util-linux tools, not our own code) before it is made.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
import threading

import pytest
from _support import need_root

from ironframe_py import AlreadyExists, NotFound, OSCallError
from ironframe_py.spec import MIN_DISK

UID = 2_000_123
MIB = 1 << 20


# --- independent oracles and cleanup ------------------------------------------------------------

def _mountinfo_entry(mountpoint: str) -> list[str] | None:
    """The last /proc/self/mountinfo line mounted on ``mountpoint``, split into fields."""
    entry = None
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if fields[4] == mountpoint:
                entry = fields
    return entry


def _losetup(image: str) -> list[str]:
    """Devices ``losetup -j`` reports for ``image``."""
    out = subprocess.run(["losetup", "-j", image], capture_output=True, text=True, check=True).stdout
    return [line.split(":", 1)[0] for line in out.splitlines()]


def _force_cleanup(image: str, mountpoint: str) -> None:
    """Finalizer: unmount, detach and delete with util-linux, whatever state a test left."""
    while _mountinfo_entry(mountpoint) is not None:
        subprocess.run(["umount", "-l", mountpoint], check=True)
    for device in _losetup(image):
        subprocess.run(["losetup", "-d", device], check=False)
    if os.path.exists(image):
        os.unlink(image)


class Place:
    """A throwaway top dir with an image path and a mount point, cleaned up by finalizers."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.top = tempfile.mkdtemp(prefix="ironframe-test-loopfs-", dir="/tmp")
        request.addfinalizer(lambda: shutil.rmtree(self.top))
        os.chmod(self.top, 0o711)  # the container uid must reach the mount point
        self.images = os.path.join(self.top, "images")

    def pair(self, name: str) -> tuple[str, str]:
        """An (image, mountpoint) pair whose cleanup is registered now."""
        image, mountpoint = os.path.join(self.images, f"{name}.img"), os.path.join(self.top, name)
        os.mkdir(mountpoint)
        self.request.addfinalizer(lambda: _force_cleanup(image, mountpoint))
        return image, mountpoint

    def bare_image(self, name: str, size: int) -> tuple[str, str]:
        """A pair whose image exists as a sparse file (what step 1 of create leaves)."""
        image, mountpoint = self.pair(name)
        os.makedirs(self.images, mode=0o700, exist_ok=True)
        with open(image, "wb") as file:
            file.truncate(size)
        return image, mountpoint


@pytest.fixture
def place(request):
    need_root()
    return Place(request)


def _write_as(uid: int, path: str, limit: int) -> tuple[int, int]:
    """Write up to twice ``limit`` bytes as ``uid`` in a forked child: (errno, bytes written)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code, written = 0, 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            with open(path, "wb", buffering=0) as file:
                while written < 2 * limit:
                    written += file.write(b"x" * 65536)
        except OSError as err:
            code = err.errno
        finally:
            os.write(write_end, f"{code} {written}".encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        code, written = map(int, pipe.read().split())
    os.waitpid(pid, 0)
    return code, written


# --- loopdev ----------------------------------------------------------------------------------

def test_attach_detach_and_find_by_backing_file(place):
    from ironframe_py.backends.linux import loopdev

    image, _ = place.bare_image("dev", 4 * MIB)
    device = loopdev.attach(image)
    assert _losetup(image) == [device]
    with open(f"/sys/block/{os.path.basename(device)}/loop/backing_file") as file:
        assert file.read().strip() == image
    assert loopdev.find_by_backing_file(image) == [device]
    loopdev.detach(device)
    assert _losetup(image) == [] and loopdev.find_by_backing_file(image) == []
    loopdev.detach(device)  # idempotent: the device is free now
    loopdev.detach("/dev/loop-does-not-exist")


def test_find_by_backing_file_sees_an_unlinked_image(place):
    from ironframe_py.backends.linux import loopdev

    image, _ = place.bare_image("gone", 4 * MIB)
    device = loopdev.attach(image)
    os.unlink(image)  # the kernel now shows "<path> (deleted)"
    assert loopdev.find_by_backing_file(image) == [device]
    loopdev.detach(device)
    assert loopdev.find_by_backing_file(image) == []


# --- loopfs: the whole life -------------------------------------------------------------------

def test_loopfs_limits_writes_and_is_removed_completely(place):
    from ironframe_py.backends.linux import loopfs

    image, mountpoint = place.pair("box")
    facts = loopfs.create(image, mountpoint, 16 * MIB, UID, UID)
    entry = _mountinfo_entry(mountpoint)
    assert entry is not None and {"nosuid", "nodev", "noatime"} <= set(entry[5].split(","))
    assert entry[entry.index("-") + 1] == "ext4" == facts["fstype"]
    assert os.stat(mountpoint).st_uid == UID and os.listdir(mountpoint) == []
    assert _losetup(image) == [facts["device"]]
    with open(f"/sys/block/{os.path.basename(facts['device'])}/loop/autoclear") as file:
        assert file.read().strip() == "1"
    assert os.stat(place.images).st_mode & 0o777 == 0o700
    assert os.stat(image).st_size == 16 * MIB

    code, written = _write_as(UID, os.path.join(mountpoint, "fill"), 16 * MIB)
    assert code == errno.ENOSPC and 0 < written <= 16 * MIB
    used, total = loopfs.usage(mountpoint)
    assert written <= used <= total <= 16 * MIB

    assert loopfs.remove(image, mountpoint) == []
    assert _mountinfo_entry(mountpoint) is None and loopfs.usage(mountpoint) is None
    assert _losetup(image) == [] and not os.path.exists(image)
    assert os.path.isdir(mountpoint)  # the caller removes the directory
    assert loopfs.remove(image, mountpoint) == []  # idempotent


def test_smallest_allowed_filesystem_works(place):
    from ironframe_py.backends.linux import loopfs

    image, mountpoint = place.pair("tiny")
    loopfs.create(image, mountpoint, MIN_DISK, UID, UID)
    code, written = _write_as(UID, os.path.join(mountpoint, "fill"), MIN_DISK)
    assert code == errno.ENOSPC and 0 < written <= MIN_DISK
    loopfs.remove(image, mountpoint)
    assert _mountinfo_entry(mountpoint) is None and _losetup(image) == []


# --- remove() from every partial state (the host died during create) ----------------------------

def test_remove_after_only_the_image_was_made(place):
    from ironframe_py.backends.linux import loopfs

    image, mountpoint = place.bare_image("step1", MIB)
    assert loopfs.remove(image, mountpoint) == []
    assert not os.path.exists(image)


def test_remove_after_attach_without_mount(place):
    from ironframe_py.backends.linux import loopdev, loopfs

    image, mountpoint = place.bare_image("step3", 8 * MIB)
    device = loopdev.attach(image)  # the device name was never recorded
    assert _losetup(image) == [device]
    loopfs.remove(image, mountpoint)
    assert _losetup(image) == [] and not os.path.exists(image)


def test_remove_after_mount_before_autoclear_with_device_unknown(place):
    from ironframe_py.backends.linux import loopdev, loopfs

    image, mountpoint = place.bare_image("step4", 8 * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
    device = loopdev.attach(image)
    subprocess.run(["mount", "-t", "ext4", device, mountpoint], check=True)
    assert _mountinfo_entry(mountpoint) is not None
    loopfs.remove(image, mountpoint)  # only the two paths are known
    assert _mountinfo_entry(mountpoint) is None
    assert _losetup(image) == [] and not os.path.exists(image)


def test_remove_refuses_a_mount_that_is_not_ours(place):
    from ironframe_py.backends.linux import loopfs

    image, mountpoint = place.bare_image("foreign", MIB)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", mountpoint], check=True)
    with pytest.raises(OSCallError) as info:
        loopfs.remove(image, mountpoint)
    assert info.value.errno == errno.EBUSY and "not from this image" in str(info.value)
    entry = _mountinfo_entry(mountpoint)
    assert entry is not None and entry[entry.index("-") + 1] == "tmpfs"


def test_busy_filesystem_is_unmounted_lazily_and_says_so(place):
    from ironframe_py.backends.linux import loopfs

    image, mountpoint = place.pair("busy")
    loopfs.create(image, mountpoint, 8 * MIB, UID, UID)
    holder = open(os.path.join(mountpoint, "held"), "w")  # noqa: SIM115 -- held across remove()
    try:
        notes = loopfs.remove(image, mountpoint)
        assert len(notes) == 1 and "MNT_DETACH" in notes[0]
        assert _mountinfo_entry(mountpoint) is None and not os.path.exists(image)
    finally:
        holder.close()
    assert _losetup(image) == []  # the last user went: autoclear freed the device


# --- create() failures and refusals -------------------------------------------------------------

def test_failed_create_leaves_nothing(place):
    from ironframe_py.backends.linux import loopfs

    image, mountpoint = place.pair("nomount")
    os.rmdir(mountpoint)  # mount(2) will fail with ENOENT after mkfs and attach
    with pytest.raises(NotFound) as info:
        loopfs.create(image, mountpoint, 8 * MIB, UID, UID)
    assert info.value.function == "mount"
    assert not os.path.exists(image) and _losetup(image) == []


def test_create_never_touches_an_existing_image(place):
    from ironframe_py.backends.linux import loopfs

    image, mountpoint = place.bare_image("exists", MIB)
    with open(image, "wb") as file:
        file.write(b"someone's data")
    with pytest.raises(AlreadyExists):
        loopfs.create(image, mountpoint, 8 * MIB, UID, UID)
    with open(image, "rb") as file:
        assert file.read() == b"someone's data"
    assert _mountinfo_entry(mountpoint) is None


def test_create_refuses_an_image_inside_the_mount_point_or_a_shared_image_dir(place):
    from ironframe_py.backends.linux import loopfs

    _, mountpoint = place.pair("inside")
    with pytest.raises(OSCallError, match="outside the mount point"):
        loopfs.create(os.path.join(mountpoint, "x.img"), mountpoint, 8 * MIB, UID, UID)
    os.makedirs(place.images, mode=0o755)
    os.chmod(place.images, 0o755)
    with pytest.raises(PermissionError, match="private"):
        loopfs.create(os.path.join(place.images, "inside.img"), mountpoint, 8 * MIB, UID, UID)
    assert os.listdir(place.images) == [] and _mountinfo_entry(mountpoint) is None


# --- concurrency ------------------------------------------------------------------------------

def test_concurrent_creates_get_different_devices(place):
    from ironframe_py.backends.linux import loopfs

    pairs = [place.pair(f"par{i}") for i in range(4)]
    start = threading.Barrier(len(pairs))
    results: dict[int, object] = {}

    def make(i: int) -> None:
        start.wait()
        try:
            results[i] = loopfs.create(*pairs[i], 8 * MIB, UID, UID)["device"]
        except Exception as err:  # reported by the assertion below
            results[i] = err

    threads = [threading.Thread(target=make, args=(i,)) for i in range(len(pairs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    devices = [results[i] for i in range(len(pairs))]
    assert all(isinstance(device, str) for device in devices), devices
    assert len(set(devices)) == len(pairs)
    for (image, mountpoint), device in zip(pairs, devices):
        assert _losetup(image) == [device] and _mountinfo_entry(mountpoint) is not None
    for image, mountpoint in pairs:
        loopfs.remove(image, mountpoint)
        assert _losetup(image) == [] and _mountinfo_entry(mountpoint) is None


def test_attach_retries_when_the_free_device_was_taken_in_between(place, monkeypatch):
    """LOOP_CTL_GET_FREE hands out a device another attach binds first: EBUSY, ask again."""
    from ironframe_py.backends.linux import disk_api, loopdev

    first_image, _ = place.bare_image("first", 4 * MIB)
    second_image, _ = place.bare_image("second", 4 * MIB)
    taken = loopdev.attach(first_image)
    real_get_free = disk_api.loop_ctl_get_free
    answers = [int(taken.removeprefix("/dev/loop"))]
    monkeypatch.setattr(disk_api, "loop_ctl_get_free",
                        lambda fd: answers.pop() if answers else real_get_free(fd))
    second = loopdev.attach(second_image)
    assert second != taken and answers == []
    assert _losetup(first_image) == [taken] and _losetup(second_image) == [second]


def test_attach_falls_back_to_set_fd_and_set_status_before_linux_5_8(place, monkeypatch):
    """Kernels before 5.8 answer LOOP_CONFIGURE with EINVAL: LOOP_SET_FD + LOOP_SET_STATUS64, for real."""
    from ironframe_py.backends.linux import disk_api, loopdev
    from ironframe_py.errors import os_error

    def old_kernel(fd, backing_fd, info, target):
        raise os_error("ioctl(LOOP_CONFIGURE)", errno=errno.EINVAL, target=target)

    monkeypatch.setattr(disk_api, "loop_configure", old_kernel)
    image, _ = place.bare_image("oldkernel", 4 * MIB)
    device = loopdev.attach(image)
    assert _losetup(image) == [device] and loopdev.find_by_backing_file(image) == [device]
    holder = os.open(device, os.O_RDONLY)  # stands in for the mount
    try:
        loopdev.set_autoclear(device)
        with open(f"/sys/block/{os.path.basename(device)}/loop/autoclear") as file:
            assert file.read().strip() == "1"
    finally:
        os.close(holder)
    assert _losetup(image) == []  # the last user closed it: autoclear detached it


def test_missing_device_node_is_made(request):
    """A minimal /dev lacks /dev/loopN for a new device: the node is made (block, major 7)."""
    need_root()
    from ironframe_py.backends.linux import loopdev

    number = next(n for n in range(250, 1000) if not os.path.exists(f"/dev/loop{n}")
                  and not os.path.exists(f"/sys/block/loop{n}"))
    path = f"/dev/loop{number}"
    request.addfinalizer(lambda: os.path.exists(path) and os.unlink(path))
    assert loopdev._device_node(number) == path
    st = os.stat(path)
    assert stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (7, number)
    assert loopdev._device_node(number) == path  # exists now: left as it is
