"""cgroup discovery and the v1/v2 file protocol, against sample texts and a fake cgroupfs.

No privileges and no kernel cgroups: the fake tree in ``tmp_path`` holds the
control files the kernel would create, and a thread plays the kernel where
behaviour matters (``cgroup.kill`` empties ``cgroup.procs``).  The v1 path
runs for real in ``test_containers.py``; pure cgroup v2 does not run on
the CI kernel, so this is where its protocol is pinned.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironframe_py import Limits
from ironframe_py.backends.linux.cgroup import (
    CPU_PERIOD_US,
    CgroupLayout,
    CgroupSet,
    Hierarchy,
    discover,
    quota_from_cpu_max,
    read_oom_kills,
    remove_dir,
    shares_from_weight,
    v1,
    v2,
)
from ironframe_py.backends.linux.cgroup._files import parse_int, read_keyed

HYBRID_MOUNTINFO = """\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/memory rw shared:12 - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:13 - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/pids rw shared:14 - cgroup cgroup rw,pids
36 30 0:32 / /sys/fs/cgroup/freezer rw shared:15 - cgroup cgroup rw,freezer
37 30 0:33 / /sys/fs/cgroup/devices rw shared:16 - cgroup cgroup rw,devices
"""
HYBRID_CGROUP = """\
7:devices:/user.slice
6:freezer:/
5:pids:/user.slice/user-0.slice
4:cpu,cpuacct:/user.slice
3:memory:/user.slice/app
1:name=systemd:/user.slice
0::/user.slice/app
"""
V2_MOUNTINFO = "28 22 0:25 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
V2_CGROUP = "0::/system.slice/worker.service\n"
# A container that sees only its own sub-tree: mount root is not "/".
NESTED_MOUNTINFO = "40 39 0:29 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
NESTED_CGROUP = "3:memory:/docker/abc/inner\n"


def _discover(tmp_path, mountinfo: str, cgroup: str, v2_controllers: str = "") -> list[Hierarchy]:
    (tmp_path / "mountinfo").write_text(mountinfo.replace("/sys/fs/cgroup", str(tmp_path / "cg")))
    (tmp_path / "cgroup").write_text(cgroup)
    for line in mountinfo.splitlines():
        if "cgroup2" in line:
            mount = line.split()[4].replace("/sys/fs/cgroup", str(tmp_path / "cg"))
            os.makedirs(mount, exist_ok=True)
            with open(os.path.join(mount, "cgroup.controllers"), "w") as file:
                file.write(v2_controllers)
    return discover(str(tmp_path / "mountinfo"), str(tmp_path / "cgroup"))


def test_discover_hybrid_with_comounted_cpu_cpuacct(tmp_path):
    found = {h.name: h for h in _discover(tmp_path, HYBRID_MOUNTINFO, HYBRID_CGROUP)}
    assert set(found) == {"unified", "memory", "cpu,cpuacct", "pids", "freezer", "devices"}
    assert found["memory"].current == "/user.slice/app"
    assert found["cpu,cpuacct"].controllers == {"cpu", "cpuacct"}
    assert found["unified"].version == 2 and found["unified"].controllers == frozenset()
    layout = CgroupLayout("ironframe-x", hierarchies=list(found.values()))
    assert layout.mode == "v1" and layout.driver is v1
    dirs = layout.container_dirs("box")
    assert str(tmp_path / "cg/memory/user.slice/app/ironframe-x/ctr-box") in dirs
    assert str(tmp_path / "cg/unified/user.slice/app/ironframe-x/ctr-box") in dirs
    assert not any("devices" in d for d in dirs)


def test_discover_pure_v2(tmp_path):
    found = _discover(tmp_path, V2_MOUNTINFO, V2_CGROUP, "cpuset cpu io memory pids")
    assert [(h.version, h.current) for h in found] == [(2, "/system.slice/worker.service")]
    layout = CgroupLayout("ironframe-x", parent="/ironframe.slice", hierarchies=found)
    assert layout.mode == "v2" and layout.driver is v2
    assert layout.container_dirs("b") == [str(tmp_path / "cg/ironframe.slice/ironframe-x/ctr-b")]


def test_discover_nested_mount_root(tmp_path):
    found = _discover(tmp_path, NESTED_MOUNTINFO, NESTED_CGROUP)
    assert [(h.name, h.current) for h in found] == [("memory", "/inner")]


def _fake_dir(path, files: dict[str, str]) -> str:
    os.makedirs(path, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as file:
            file.write(text)
    return str(path)


V2_FILES = {"memory.max": "max\n", "memory.swap.max": "max\n", "memory.current": "4096\n",
            "memory.peak": "8192\n", "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n",
            "cpu.max": "max 100000\n", "cpu.weight": "100\n",
            "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
            "pids.max": "max\n", "pids.current": "3\n", "cgroup.procs": "",
            "cgroup.kill": "", "cgroup.events": "populated 0\nfrozen 0\n"}


def _read(path, name):
    with open(os.path.join(path, name)) as file:
        return file.read()


ALL_V2 = frozenset({"cpu", "memory", "pids", "io"})


def _v2_box(tmp_path, files: dict[str, str], release: str = "6.1.0") -> CgroupSet:
    """A container directory ``box`` on a fake v2 mount, opened as the backend opens it."""
    box = _fake_dir(tmp_path / "cg" / "box", files)
    layout = CgroupLayout("svc", hierarchies=[Hierarchy(2, ALL_V2, str(tmp_path / "cg"), "/")],
                          kernel_release=release)
    return layout.open([box])


def _v1_box(tmp_path, controller: str, files: dict[str, str]) -> CgroupSet:
    """A container directory in a fake v1 ``controller`` hierarchy."""
    mount = tmp_path / controller
    box = _fake_dir(mount / "box", files)
    layout = CgroupLayout("svc", hierarchies=[Hierarchy(1, frozenset({controller}), str(mount), "/")])
    return layout.open([box])


def test_v2_limits_are_written_in_the_v2_format(tmp_path):
    box = _fake_dir(tmp_path / "box", V2_FILES)
    v2.apply_limits(box, frozenset({"cpu", "memory", "pids"}),
                    Limits(memory=64 << 20, cpu_weight=250, cpu_max=1.5, processes=42))
    assert _read(box, "memory.max") == str(64 << 20)
    assert _read(box, "memory.swap.max") == "0"
    assert _read(box, "cpu.weight") == "250"
    assert _read(box, "cpu.max") == f"150000 {CPU_PERIOD_US}"
    assert _read(box, "pids.max") == "42"


def test_v2_unset_fields_are_left_alone(tmp_path):
    box = _fake_dir(tmp_path / "box", V2_FILES)
    v2.apply_limits(box, frozenset({"cpu", "memory", "pids"}), Limits(processes=7))
    assert (_read(box, "memory.max"), _read(box, "cpu.max")) == ("max\n", "max 100000\n")


def test_v2_stats(tmp_path):
    stats = _v2_box(tmp_path, {**V2_FILES, "memory.max": "1048576\n"}).stats()
    assert (stats.memory_usage, stats.memory_peak, stats.memory_limit) == (4096, 8192, 1 << 20)
    assert (stats.cpu_time, stats.processes, stats.process_limit, stats.oom_kills) == (2.5, 3, None, 2)


def test_v2_parent_enables_controllers(tmp_path):
    mount = tmp_path / "cg"
    _fake_dir(mount, {"cgroup.controllers": "cpu memory pids io"})
    _fake_dir(mount / "svc", {"cgroup.subtree_control": ""})  # the kernel makes it with the dir
    layout = CgroupLayout("svc", hierarchies=[Hierarchy(2, ALL_V2, str(mount), "/")])
    layout.ensure_parents()
    assert _read(mount / "svc", "cgroup.subtree_control") == "+cpu +memory +pids"


def test_v2_kill_writes_cgroup_kill_and_waits_until_empty(tmp_path):
    cgroups = _v2_box(tmp_path, {**V2_FILES, "cgroup.procs": "101\n102\n"})
    box = cgroups.dirs[0]
    writes = []

    def kernel():  # empties cgroup.procs a little after "1" lands in cgroup.kill
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if _read(box, "cgroup.kill") == "1":
                writes.append("kill")
                time.sleep(0.02)
                _fake_dir(box, {"cgroup.procs": ""})
                return
            time.sleep(0.001)

    thread = threading.Thread(target=kernel)
    thread.start()
    cgroups.kill_all(timeout=5)
    thread.join()
    assert writes == ["kill"] and cgroups.pids() == []


def test_kill_that_never_empties_raises(tmp_path):
    cgroups = _v2_box(tmp_path, {**V2_FILES, "cgroup.procs": "101\n"})
    with pytest.raises(Exception, match="survive"):
        cgroups.kill_all(timeout=0.05)


V1_MEMORY = {"memory.limit_in_bytes": "9223372036854771712\n",
             "memory.memsw.limit_in_bytes": "9223372036854771712\n",
             "memory.usage_in_bytes": "100\n", "memory.max_usage_in_bytes": "200\n",
             "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "cgroup.procs": ""}


def test_v1_memory_orders_memsw_writes_both_ways(tmp_path):
    cgroups = _v1_box(tmp_path, "memory", V1_MEMORY)
    box = cgroups.dirs[0]
    cgroups.set_limits(Limits(memory=64 << 20))
    assert (_read(box, "memory.limit_in_bytes"), _read(box, "memory.memsw.limit_in_bytes")) == \
        (str(64 << 20), str(64 << 20))
    cgroups.set_limits(Limits(memory=128 << 20))
    assert _read(box, "memory.memsw.limit_in_bytes") == str(128 << 20)
    stats = cgroups.stats()
    assert (stats.memory_usage, stats.memory_peak, stats.memory_limit, stats.oom_kills) == \
        (100, 200, 128 << 20, 1)


def test_v1_unlimited_reads_as_none(tmp_path):
    assert _v1_box(tmp_path, "memory", V1_MEMORY).stats().memory_limit is None


def test_v1_cpu_files(tmp_path):
    box = _fake_dir(tmp_path / "cpu", {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1",
                                       "cpu.cfs_period_us": "100000", "cgroup.procs": ""})
    v1.apply_limits(box, frozenset({"cpu"}), Limits(cpu_weight=50, cpu_max=0.25))
    assert (_read(box, "cpu.shares"), _read(box, "cpu.cfs_quota_us")) == ("512", "25000")


def test_remove_dir_is_idempotent(tmp_path):
    path = tmp_path / "gone"
    path.mkdir()
    remove_dir(str(path))
    remove_dir(str(path))
    assert not path.exists()


@pytest.mark.parametrize("text, value", [("max\n", None), ("0\n", 0), ("123\n", 123)])
def test_parse_int(text, value):
    assert parse_int(text) == value


def test_read_keyed_ignores_non_numeric_lines(tmp_path):
    box = _fake_dir(tmp_path / "x", {"f": "a 1\nb two\nc -3\n"})
    assert read_keyed(box, "f") == {"a": 1, "c": -3}


@given(st.integers(min_value=1, max_value=10_000))
def test_weight_to_shares_stays_in_kernel_range(weight):
    shares = shares_from_weight(weight)
    assert 2 <= shares <= 262_144
    assert shares_from_weight(100) == 1024


@given(st.floats(min_value=0.01, max_value=1024))
def test_cpu_max_quota_is_valid(cpu_max):
    quota = quota_from_cpu_max(cpu_max)
    assert quota >= 1000 and abs(quota - cpu_max * CPU_PERIOD_US) <= max(1000, 1)


HYBRID_SEPARATE = HYBRID_MOUNTINFO.replace(
    "34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:13 - cgroup cgroup rw,cpu,cpuacct",
    "34 30 0:30 / /sys/fs/cgroup/cpu rw shared:13 - cgroup cgroup rw,cpu\n"
    "38 30 0:34 / /sys/fs/cgroup/cpuacct rw shared:17 - cgroup cgroup rw,cpuacct")


@pytest.mark.parametrize("release, expected", [
    ("6.18.44-fc", {"cpu", "memory", "pids", "unified"}),
    ("5.10.0-21-amd64", {"cpu", "cpuacct", "freezer", "memory", "pids", "unified"}),
])
def test_hybrid_hosts_with_cgroup_kill_need_no_freezer_or_cpuacct(tmp_path, release, expected):
    cgroup_text = HYBRID_CGROUP.replace("4:cpu,cpuacct:/user.slice", "4:cpu:/\n8:cpuacct:/")
    found = _discover(tmp_path, HYBRID_SEPARATE, cgroup_text)
    layout = CgroupLayout("svc", hierarchies=found, kernel_release=release)
    assert {h.name for h in layout.used} == expected


@pytest.mark.parametrize("name, text, count", [
    ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n", 7),
    ("memory.events", "low 0\nhigh 0\nmax 9\noom 3\noom_kill 2\noom_group_kill 0\n", 2),
    ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n", 0),  # kernels before 4.13
])
def test_the_one_oom_kill_parser_reads_both_versions(tmp_path, name, text, count):
    box = _fake_dir(tmp_path / "box", {name: text})
    assert read_oom_kills(os.path.join(box, name)) == count


def test_a_file_this_kernel_lacks_is_never_created(tmp_path):
    box = _fake_dir(tmp_path / "box", {"memory.max": "max\n"})  # no memory.swap.max: no swap
    v2.apply_limits(box, frozenset({"memory"}), Limits(memory=1 << 20))
    assert sorted(os.listdir(box)) == ["memory.max"] and _read(box, "memory.max") == str(1 << 20)


@pytest.mark.parametrize("release, kill", [("6.1.0", True), ("5.10.0-21-amd64", False)])
def test_v2_watch_files_are_the_v2_ones(tmp_path, release, kill):
    files = _v2_box(tmp_path, V2_FILES, release).watch_files()
    box = str(tmp_path / "cg" / "box")
    assert (files.memory_usage, files.oom_events, files.procs, files.pids_current) == (
        f"{box}/memory.current", f"{box}/memory.events", f"{box}/cgroup.procs",
        f"{box}/pids.current")
    assert (files.event_control, files.freezer_state) == (None, None)
    assert files.kill == (f"{box}/cgroup.kill" if kill else None)
