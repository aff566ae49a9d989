"""The host SIGKILLed at every point of destroy() and of recover(), then recover() again.

A child Python process makes a detached container (memory, process and disk
limits, a process running), then destroys it -- or recovers it -- and kills
itself with SIGKILL just before or just after one step: the kill of the
container's processes, or the release of one recorded resource.  The points
come from the container's own record, so a new resource kind is covered the
day it is added.  A new service then runs recover(); the OS (not the store)
must show nothing of the container.  A crash before destroy() began leaves
the container intact and usable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from _support import REPO
from linux_support import assert_no_trace, cgroup_dirs_named, mounts_under

from ironframe_py import PIPE, ContainerService, Limits

HANDLE = "crashdown"

CHILD = textwrap.dedent("""
    import os, signal, sys
    from ironframe_py import ContainerService, ContainerSpec, Limits
    from ironframe_py.backends.linux.backend import LinuxBackend, LinuxContainerView

    root, action, point, when = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def crashing(original, name):
        def wrapper(*args, **kwargs):
            wrapper.calls += 1
            hit = point == f"{name}:{wrapper.calls}"
            if hit and when == "before":
                die()
            result = original(*args, **kwargs)
            if hit:
                die()
            return result
        wrapper.calls = 0
        return wrapper

    LinuxBackend.release = crashing(LinuxBackend.release, "release")
    LinuxContainerView.kill_all = crashing(LinuxContainerView.kill_all, "kill")
    service = ContainerService(root, guard_interval=None)
    if action == "make":
        box = service.create(ContainerSpec(handle="%(handle)s", limits=Limits(
            memory="32M", processes=8, disk="8M")), detached=True)
        box.run(["/bin/sleep", "600"], stdin=-3, stdout=-3, stderr=-3)
        print(len(service.store.resources("%(handle)s")), flush=True)
    elif action == "destroy":
        if point == "start":
            die()  # the destroy never began
        service.destroy("%(handle)s")
    elif action == "recover":
        service.recover()
    print("finished", flush=True)
""") % {"handle": HANDLE}


def _child(root: str, action: str, point: str = "-", when: str = "-") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, root, action, point, when],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": REPO})


def _make(root: str) -> int:
    made = _child(root, "make")
    assert made.returncode == 0 and made.stdout.split()[-1] == "finished", made.stderr
    return int(made.stdout.split()[0])


def _points(resources: int) -> list[tuple[str, str]]:
    names = ["kill:1"] + [f"release:{n}" for n in range(1, resources + 1)]
    return [(name, when) for name in names for when in ("before", "after")]



def _recover_and_check(root: str, uid: int) -> None:
    with ContainerService(root, guard_interval=None) as service:
        service.recover()
        assert service.list() == []
    assert_no_trace(root, HANDLE, uid)


def _uid(root: str) -> int:
    with ContainerService(root, guard_interval=None) as service:
        return service.store.container(HANDLE).uid


def test_sigkill_at_every_point_of_destroy_then_recover(root):
    resources = _make(root)
    assert resources >= 4 and cgroup_dirs_named(HANDLE) and mounts_under(root)
    covered = 0
    for point, when in _points(resources):
        if covered:
            _make(root)
        uid = _uid(root)
        crashed = _child(root, "destroy", point, when)
        assert crashed.returncode == -signal.SIGKILL, (point, when, crashed.stderr)
        _recover_and_check(root, uid)
        covered += 1
    assert covered == 2 * (resources + 1)


def test_sigkill_at_every_point_of_recover_then_recover_again(root):
    resources = _make(root)
    for index, (point, when) in enumerate(_points(resources)):
        if index:
            _make(root)
        uid = _uid(root)
        # the first destroy dies at its very start, so the container is owned by nobody alive
        # and half-way through nothing; then a recover() dies at the point
        assert _child(root, "destroy", "start").returncode == -signal.SIGKILL
        with ContainerService(root, guard_interval=None) as service:
            service.store.set_state(HANDLE, "destroying")  # as a crash inside destroy leaves it
        crashed = _child(root, "recover", point, when)
        assert crashed.returncode == -signal.SIGKILL, (point, when, crashed.stderr)
        _recover_and_check(root, uid)


def test_a_crash_before_destroy_began_leaves_the_container_intact_and_usable(root):
    _make(root)
    assert _child(root, "destroy", "start").returncode == -signal.SIGKILL
    with ContainerService(root, guard_interval=None) as service:
        assert service.recover() == []  # detached and healthy: not recover's to take
        box = service.get(HANDLE)
        proc = box.run(["/bin/sh", "-c", "echo alive > f; cat f"], stdout=PIPE, text=True)
        assert proc.communicate(timeout=30)[0].strip() == "alive"
        assert box.info().limits == Limits(memory="32M", processes=8, disk="8M")
        uid = box.uid
        box.destroy()
    assert_no_trace(root, HANDLE, uid)
