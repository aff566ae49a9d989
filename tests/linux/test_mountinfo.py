"""The one mountinfo parser: proc(5)'s format on sample lines, and a real mount as root.

The real-mount oracle is the kernel: ``os.path.ismount`` and ``os.stat``
of the mount point, not our parser.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

from _support import need_root

from ironframe_py.backends.linux import mountinfo
from ironframe_py.backends.linux.mountinfo import Mount

SAMPLE = (
    # proc(5)'s own example: one optional field
    "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
    # no optional field, an escaped space and backslash, an empty source
    r"40 36 0:50 / /tmp/a\040b\134c rw,relatime - tmpfs  rw,size=1024k" "\n"
    # several optional fields; cgroup v1 controllers in the superblock options
    "41 31 0:35 / /sys/fs/cgroup/pids rw shared:3 master:2 propagate_from:1 - cgroup cgroup rw,pids\n"
)


def test_parse_follows_proc5():
    assert mountinfo.parse(SAMPLE) == [
        Mount(36, 35, "98:0", "/mnt1", "/mnt2", "rw,noatime", "ext3", "/dev/root",
              "rw,errors=continue"),
        Mount(40, 36, "0:50", "/", "/tmp/a b\\c", "rw,relatime", "tmpfs", "", "rw,size=1024k"),
        Mount(41, 31, "0:35", "/", "/sys/fs/cgroup/pids", "rw", "cgroup", "cgroup", "rw,pids"),
    ]


def test_every_mount_point_read_here_is_one_for_the_kernel():
    mounts = mountinfo.read()
    assert "/" in {mount.mount_point for mount in mounts}
    top = {mount.mount_point: mount for mount in mounts}  # the last on a point is on top
    checked = 0
    for point, mount in top.items():
        try:
            st = os.stat(point)
        except OSError:  # gone meanwhile, or not ours to look into
            continue
        # st_dev of the point is the device of the filesystem mounted there: this holds
        # for bind mounts of a directory or a file too, where os.path.ismount cannot tell
        assert f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}" == mount.device, mount
        checked += 1
    assert checked >= 3


def test_a_mount_point_with_a_space_and_a_backslash_is_unescaped(request):
    need_root()
    top = tempfile.mkdtemp(prefix="ironframe-mountinfo-", dir="/tmp")
    point = os.path.join(top, "a b\\c")
    os.mkdir(point)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "ironframe src", point], check=True)

    def cleanup():
        subprocess.run(["umount", point], check=False)
        os.rmdir(point)
        os.rmdir(top)

    request.addfinalizer(cleanup)
    found = [m for m in mountinfo.read() if m.mount_point == point]
    st_dev = os.stat(point).st_dev
    assert [(m.fstype, m.source, m.device) for m in found] == [
        ("tmpfs", "ironframe src", f"{os.major(st_dev)}:{os.minor(st_dev)}")]
