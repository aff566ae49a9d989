"""A handle may be any cgroup control-file name: the container's cgroups are still
made, joined and removed (issue 9: such handles used to fail in ``mkdir`` and
leave records in ``destroying``).

The names are read from this host's cgroupfs at test time -- every file of
each hierarchy's root and of a fresh child cgroup made under our own, which
has the files a root lacks (``cgroup.kill``, ``pids.max``...) -- plus the
v2 names of the fake cgroupfs.  The oracle is the kernel: the cgroups
``/proc/<pid>/cgroup`` names for a process of the container are directories
holding that process while the container lives, and gone after destroy.
A container whose directories were named by the bare handle (before the
``ctr-`` prefix) is still removed: removal goes by the recorded paths.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from _support import need_root
from linux_support import is_alive, make_root
from test_cgroup_files import V2_FILES

from ironframe_py import ContainerService, ContainerSpec, Limits, SpecError
from ironframe_py.backends.linux.cgroup import discover
from ironframe_py.spec import check_handle


def _valid_handle(name: str) -> bool:
    try:
        check_handle(name)
    except SpecError:
        return False
    return True


def _files_in(directory: str) -> set[str]:
    return {entry.name for entry in os.scandir(directory) if entry.is_file()}


def control_file_names() -> set[str]:
    """Every control-file name of this host's cgroup hierarchies and of the v2 fake."""
    names = set(V2_FILES)
    for hierarchy in discover():
        names |= _files_in(hierarchy.mount)
        own = os.path.join(hierarchy.mount, hierarchy.current.strip("/"))
        probe = os.path.join(own, f"ironframe-test-names-{os.getpid()}")
        os.mkdir(probe)
        try:
            names |= _files_in(probe)
        finally:
            os.rmdir(probe)
    return {name for name in names if _valid_handle(name)}


def _cgroups_of(pid: int) -> dict[str, str]:
    """``{mount: directory}`` of ``pid`` in every hierarchy, from /proc/<pid>/cgroup."""
    mounts = {("unified" if h.version == 2 else ",".join(sorted(h.controllers))): h.mount
              for h in discover()}
    found = {}
    with open(f"/proc/{pid}/cgroup") as file:
        for line in file:
            hier_id, controllers, path = line.rstrip("\n").split(":", 2)
            key = "unified" if hier_id == "0" else ",".join(sorted(controllers.split(",")))
            if key in mounts:
                found[mounts[key]] = mounts[key] + path.rstrip("/")
    return found


def _pids_in(directory: str) -> list[int]:
    with open(os.path.join(directory, "cgroup.procs")) as file:
        return [int(line) for line in file.read().split()]


def test_the_names_come_from_the_kernel():
    need_root()
    names = control_file_names()
    assert {"cgroup.procs", "memory.limit_in_bytes", "pids.max", "cgroup.kill", "memory.max",
            "tasks", "notify_on_release", "cpu.shares"} <= names
    # the rule container_dir_name() relies on, checked against this kernel's files
    dotless = {name for name in names if "." not in name}
    assert dotless <= {"tasks", "notify_on_release", "release_agent"}
    assert not [name for name in names if "-" in name.split(".")[0]]


def test_every_control_file_name_works_as_a_handle(service):  # noqa: F811
    names = sorted(control_file_names())
    own = _cgroups_of(os.getpid())
    made = {}
    for name in names:
        box = service.create(ContainerSpec(handle=name, limits=Limits(memory="64M", processes=16)))
        proc = box.run(["/bin/sleep", "60"])
        made[name] = (box, proc, _cgroups_of(proc.pid))
    for name, (_box, proc, cgroups) in made.items():
        # every hierarchy used holds the process in a cgroup of its own, below ours
        used = {mount: path for mount, path in cgroups.items() if path != own[mount]}
        assert {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"} <= set(used), (name, cgroups)
        assert len(used) == len(service.backend.layout.used), (name, cgroups)
        for mount, path in used.items():
            assert path.startswith(own[mount] + "/"), (name, path)
            assert os.path.isdir(path) and proc.pid in _pids_in(path), (name, path)
    for name, (box, proc, cgroups) in made.items():
        box.destroy()
        proc.wait(10)
        for mount, path in cgroups.items():
            if path != own[mount]:
                assert not os.path.exists(path), (name, path)
    assert service.list() == []



OLD_NAMING_CHILD = textwrap.dedent("""
    import os, signal, sys
    from ironframe_py import ContainerService, ContainerSpec, Limits
    from ironframe_py.backends.linux.cgroup import CgroupLayout

    # the naming of releases before the ctr- prefix: the bare handle
    CgroupLayout.container_dirs = lambda self, handle: [os.path.join(p, handle)
                                                        for p in self.parents]
    service = ContainerService(sys.argv[1], guard_interval=None)
    box = service.create(ContainerSpec(handle="oldbox", limits=Limits(memory="32M")))
    proc = box.run(["/bin/sleep", "600"], stdin=-3, stdout=-3, stderr=-3)
    print(proc.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the host dies with the container running
""")


def test_a_container_named_the_old_way_is_still_recovered(request):
    need_root()
    root = make_root()

    def cleanup():
        with ContainerService(root, guard_interval=None) as later:
            later.recover()
        shutil.rmtree(root)

    request.addfinalizer(cleanup)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    child = subprocess.run([sys.executable, "-c", OLD_NAMING_CHILD, root], capture_output=True,
                           text=True, timeout=120, env={**os.environ, "PYTHONPATH": repo})
    assert child.returncode == -signal.SIGKILL, child.stderr
    pid = int(child.stdout.split()[0])
    own = _cgroups_of(os.getpid())
    old = [path for mount, path in _cgroups_of(pid).items() if path != own[mount]]
    assert old and all(os.path.basename(path) == "oldbox" and os.path.isdir(path) for path in old)
    with ContainerService(root, guard_interval=None) as new_release:
        assert new_release.recover() == ["oldbox"]
    assert not is_alive(pid)
    assert [path for path in old if os.path.exists(path)] == []


def test_a_record_stuck_in_destroying_by_the_old_naming_is_destroyed(service, monkeypatch):  # noqa: F811
    """Before the prefix, handle "tasks" made mkdir fail on the kernel's ``tasks`` file and
    the rollback's rmdir fail with ENOTDIR, leaving the record in ``destroying``."""
    from ironframe_py import AlreadyExists
    from ironframe_py.backends.linux import backend as linux_backend
    from ironframe_py.backends.linux.cgroup import CgroupLayout

    def old_rmdir(path: str) -> None:  # the old release: ENOTDIR was an error
        if not os.path.isdir(path):
            raise OSError(20, "Not a directory", path)
        os.rmdir(path)

    with monkeypatch.context() as old:
        old.setattr(CgroupLayout, "container_dirs",
                    lambda self, handle: [os.path.join(p, handle) for p in self.parents])
        old.setattr(linux_backend, "remove_dir", old_rmdir)
        with pytest.raises(AlreadyExists):
            service.create(ContainerSpec(handle="tasks"))
    assert service.list() == ["tasks"]  # stuck, as the old release left it
    kernel_files = [os.path.join(p, "tasks") for p in service.backend.layout.parents
                    if os.path.isfile(os.path.join(p, "tasks"))]
    assert kernel_files  # v1 hierarchies have a tasks file in every cgroup
    service.destroy("tasks")
    assert service.list() == []
    assert all(os.path.isfile(path) for path in kernel_files)  # the kernel's files untouched
