"""recover() after the host is SIGKILLed at every point of create(), and with containers running.

A child Python process creates a container and kills itself with SIGKILL
just before or just after one step of the creation plan acts.  A new
service then calls recover(); the OS must show no trace of the container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from linux_support import assert_no_trace, cgroup_dirs_named, mounts_under

from ironframe_py import ContainerService

CHILD = textwrap.dedent("""
    import dataclasses, os, signal, sys
    from ironframe_py import ContainerService, ContainerSpec, Limits
    from ironframe_py.backends.linux.backend import LinuxBackend

    root, crash_at, when = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    real_plan = LinuxBackend.plan

    def crashing_plan(self, ctx):
        steps = real_plan(self, ctx)
        print(len(steps), flush=True)
        if crash_at >= len(steps):
            return steps
        step = steps[crash_at]

        def do():
            if when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = step.do()
            os.kill(os.getpid(), signal.SIGKILL)
            return result

        steps[crash_at] = dataclasses.replace(step, do=do)
        return steps

    LinuxBackend.plan = crashing_plan
    service = ContainerService(root, guard_interval=None)
    box = service.create(ContainerSpec(handle="crashy",
                                       limits=Limits(memory="32M", processes=8, disk="8M")))
    # reached only when crash_at is past the plan: the host dies with a process running
    box.run(["/bin/sleep", "600"], stdin=-3, stdout=-3, stderr=-3)  # DEVNULL: keep our pipes free
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _crash_child(root: str, crash_at: int, when: str) -> int:
    """Run the child; return the number of plan steps it printed."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", CHILD, root, str(crash_at), when],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": repo})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return int(proc.stdout.split()[0])



def _recover_and_check(root: str) -> None:
    with ContainerService(root, guard_interval=None) as service:
        uid = service.store.container("crashy").uid  # reserved before the first step
        assert service.recover() == ["crashy"]
        assert service.list() == []
    assert_no_trace(root, "crashy", uid)


def test_recover_after_sigkill_at_every_step(root):
    steps = _crash_child(root, 10_000, "after")  # learn the plan length; host dies with a process
    assert cgroup_dirs_named("crashy") and mounts_under(root)
    _recover_and_check(root)
    for crash_at in range(steps):
        for when in ("before", "after"):
            _crash_child(root, crash_at, when)
            _recover_and_check(root)


def test_recover_leaves_containers_of_live_hosts_alone(root):
    with ContainerService(root, guard_interval=None) as live:
        box = live.create()
        with ContainerService(root, guard_interval=None) as other:
            assert other.recover() == []
        assert os.path.isdir(box.path) and live.list() == [box.handle]
        box.destroy()
