"""Processes started and never waited for leak nothing: no zombie, no pidfd (as root)."""

from __future__ import annotations

import gc
import os
import time

from ironframe_py import ContainerSpec


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _zombie_children() -> list[int]:
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            found.append(int(name))
    return found


def test_unwaited_runs_in_destroyed_containers_leave_no_zombie_and_no_fd(service):
    gc.collect()
    fds, zombies = _fds(), set(_zombie_children())
    kept = []
    for index in range(20):
        box = service.create(ContainerSpec(handle=f"unwaited{index}"))
        kept.append(box.run(["/bin/sleep", "60"]))  # still referenced, never waited for
        box.run(["/bin/true"])                      # dropped at once
        box.destroy()
    assert all(proc.returncode is not None for proc in kept)
    del kept
    gc.collect()
    assert set(_zombie_children()) - zombies == set()
    assert _fds() <= fds


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_a_dropped_process_that_exited_is_reaped_by_the_next_run(service):
    with service.create(ContainerSpec(handle="dropper")) as box:
        pid = box.run(["/bin/true"]).pid  # the object is dropped at once, never waited for
        gc.collect()
        for _ in range(500):  # bounded: /bin/true exits within milliseconds
            if _state(pid) == "Z":
                break
            time.sleep(0.01)
        assert _state(pid) == "Z"
        box.run(["/bin/true"]).wait(10)
        assert _state(pid) is None
