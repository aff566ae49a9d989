"""The guard, for real (root, cgroup v1 + cgroup2 on this host), and its C core on fake files.

Timing bounds are generous on purpose (the issue allows "within 20 poll
intervals"): they catch a guard that does not act, not a slow machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from _support import REPO, need_root, wait_until
from linux_support import is_alive, make_root

from ironframe_py import PIPE, ContainerService, ContainerSpec, Limits
from ironframe_py.backends.linux.guard_target import LinuxGuardTarget
from ironframe_py.guard import Guard, load_core

ALLOCATE = ("/usr/bin/python3", "-S", "-c",
            "import time\nchunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))\n"
            "    time.sleep(0.001)")
SLEEP = ("/bin/sleep", "300")


def _guarded_service():
    """A service whose guard polls every 50 ms; yields (service, events)."""
    need_root()
    root = make_root()
    events = []
    service = ContainerService(root, guard_interval=0.05, on_event=lambda h, e: events.append((h, e)))
    yield service, events
    for handle in service.list():
        service.destroy(handle)
    service.close()
    os.rmdir(os.path.join(root, "containers"))
    for name in os.listdir(root):
        path = os.path.join(root, name)
        os.rmdir(path) if os.path.isdir(path) else os.unlink(path)
    os.rmdir(root)


@pytest.fixture
def guarded():
    """A service whose guard polls every 50 ms; yields (service, events)."""
    yield from _guarded_service()


@pytest.fixture(params=["proc-events", "proc-scan"])
def escape_guarded(request, monkeypatch):
    """``guarded``, once with escapees found from process events and once by /proc scans."""
    if request.param == "proc-scan":
        monkeypatch.setenv("IRONFRAME_GUARD_PROC_EVENTS", "0")
    for service, events in _guarded_service():
        assert service._guard.guard.proc_events == (request.param == "proc-events")
        yield service, events


def test_kernel_oom_kill_stops_the_whole_container(guarded):
    service, events = guarded
    with service.create(ContainerSpec(limits=Limits(memory="64M"))) as box:
        worker = box.run(list(SLEEP))
        hog = box.run(list(ALLOCATE))
        assert hog.wait(60) == -signal.SIGKILL
        # the guard, not the kernel, ends the worker: within 20 intervals of the OOM kill
        assert wait_until(lambda: worker.poll() is not None, 20 * 0.05)
        assert worker.returncode == -signal.SIGKILL
        kinds = [e.kind for h, e in events if h == box.handle]
        assert kinds == ["oom_kill"] and box.info().kill_events[0].limit == 64 << 20


def test_guard_limit_below_the_kernel_limit_is_enforced_by_the_guard(guarded):
    """With no kernel limit reached, the guard's own usage check kills the container."""
    service, events = guarded
    with service.create(ContainerSpec(limits=Limits(memory="256M"))) as box:
        service._guard.guard.update_limit(box.handle, 48 << 20)
        service._guard.guard.wait_applied()
        hog = box.run(list(ALLOCATE))
        assert hog.wait(60) == -signal.SIGKILL
        assert box.info().kill_events[0].detail.startswith("memory use crossed")
        assert [e.kind for h, e in events] == ["memory"]
        assert 48 << 20 < box.info().kill_events[0].usage < 256 << 20


def test_process_under_its_limit_survives_a_thousand_sweeps():
    need_root()
    root = make_root()
    with ContainerService(root, guard_interval=0.001) as service:
        with service.create(ContainerSpec(limits=Limits(memory="64M"))) as box:
            proc = box.run(["/usr/bin/python3", "-S", "-c",
                            "import time\nx = bytearray(16 << 20)\ntime.sleep(300)"])
            guard = service._guard.guard
            start = guard.sweeps
            assert wait_until(lambda: guard.sweeps - start >= 1000, 60)
            assert proc.poll() is None and box.kill_events() == []
            usage, peak = guard.usage(box.handle)
            assert 16 << 20 <= peak <= 64 << 20
        assert proc.wait(10) == -signal.SIGKILL  # destroyed with the container; reaped here


def _move_to_parent(pid: int, dirs: list[str]) -> None:
    for directory in dirs:
        with open(os.path.join(os.path.dirname(os.path.dirname(directory)), "cgroup.procs"),
                  "w") as procs:
            procs.write(str(pid))


def test_escapee_is_killed(escape_guarded):
    service, events = escape_guarded
    with service.create() as box:
        proc = box.run(list(SLEEP), stdout=PIPE)
        dirs = box._live.view.cgroups.dirs
        _move_to_parent(proc.pid, dirs)  # as root: out of every container cgroup
        assert proc.pid not in box.pids()
        assert proc.wait(20 * 0.1 + 5) == -signal.SIGKILL
        assert wait_until(lambda: events, 5)  # the C core kills first; the event follows its sweep
        assert [(e.kind, e.pid) for h, e in events] == [("escapee", proc.pid)]


def _become(uid: int) -> subprocess.Popen:
    """A root process outside every container that switches to ``uid`` (a UID event)
    and execs sleep."""
    tail = "print('now', flush=True)\nos.execv('/bin/sleep', ['sleep', '300'])"
    return subprocess.Popen(["/usr/bin/python3", "-S", "-c",
                             f"import os, sys, time\nos.setgroups([])\nos.setresgid({uid}, {uid}, {uid})\n"
                             f"os.setresuid({uid}, {uid}, {uid})\n{tail}"],
                            stdout=subprocess.PIPE)


def test_process_that_becomes_the_container_uid_outside_it_is_killed(escape_guarded):
    service, events = escape_guarded
    with service.create() as box:
        outsider = _become(box.uid)
        try:
            assert outsider.stdout.readline() == b"now\n"
            assert outsider.wait(20 * 0.25 + 5) == -signal.SIGKILL
        finally:
            outsider.kill()
            outsider.wait()
        assert wait_until(lambda: events, 5)  # the C core kills first; the event follows its sweep
        assert [(e.kind, e.pid) for h, e in events] == [("escapee", outsider.pid)]


def _juggle(real: int, effective: int, saved: int) -> subprocess.Popen:
    """A root process outside every container that takes these uids with setresuid and
    stays (no exec, which would reset the saved uid to the effective one)."""
    return subprocess.Popen(["/usr/bin/python3", "-S", "-c",
                             f"import os, time\nos.setresuid({real}, {effective}, {saved})\n"
                             "print('now', flush=True)\ntime.sleep(300)"],
                            stdout=subprocess.PIPE)


@pytest.mark.parametrize("uids", ["real+saved", "saved"])
def test_root_process_holding_the_container_uid_in_any_slot_outside_it_is_killed(escape_guarded, uids):
    """A process of the container user is one whose real, effective, saved or
    filesystem uid is the container's: effective root with the container's uid as its
    real and saved uid (or as its saved uid alone, from which it can switch back)
    outside the container is an escapee, as destroy() would also kill it."""
    service, events = escape_guarded
    with service.create() as box:
        outsider = _juggle(box.uid, 0, box.uid) if uids == "real+saved" else _juggle(0, 0, box.uid)
        try:
            assert outsider.stdout.readline() == b"now\n"
            with open(f"/proc/{outsider.pid}/status") as status:
                line = next(text for text in status if text.startswith("Uid:"))
            assert line.split()[1:3] == ([str(box.uid), "0"] if uids == "real+saved" else ["0", "0"])
            assert outsider.wait(20 * 0.25 + 5) == -signal.SIGKILL
        finally:
            outsider.kill()
            outsider.wait()
        assert wait_until(lambda: events, 5)  # the C core kills first; the event follows its sweep
        assert [(e.kind, e.pid) for h, e in events] == [("escapee", outsider.pid)]


def test_destroy_kills_what_the_guard_would_kill(guarded):
    """destroy() and the guard share one definition (``_guard/proc_ids.h``): with the
    guard not running, destroy's own scan kills a root process that holds the
    container's uid only as its saved uid."""
    service, _ = guarded
    with ContainerService(service.root, guard_interval=None) as unguarded:
        box = unguarded.create()
        outsider = _juggle(0, 0, box.uid)
        try:
            assert outsider.stdout.readline() == b"now\n"
            assert outsider.poll() is None
            box.destroy()
            assert outsider.wait(10) == -signal.SIGKILL
        finally:
            outsider.kill()
            outsider.wait()


CHURN = """
import os, threading, time
def spin():
    while True:
        time.sleep(0.001)
for _ in range(8):
    threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
while True:
    pid = os.fork()
    if pid == 0:
        threading.Thread(target=spin, daemon=True).start()
        time.sleep(0.002)
        os._exit(0)
    os.waitpid(pid, 0)
"""


@pytest.mark.parametrize("proc_events", [True, False], ids=["proc-events", "proc-scan"])
def test_busy_container_forking_and_threading_is_never_taken_for_escapees(proc_events, monkeypatch):
    """Hundreds of escapee sweeps while a container forks children and starts threads
    non-stop: neither the task counts nor a stale cgroup.procs make an innocent look
    outside (a v1 cgroup.procs re-read through the same open file can be a second old)."""
    need_root()
    if not proc_events:
        monkeypatch.setenv("IRONFRAME_GUARD_PROC_EVENTS", "0")
    root = make_root()
    from ironframe_py.backends.linux.guard_target import target_for

    with ContainerService(root, guard_interval=None) as service:
        with service.create(ContainerSpec(limits=Limits(memory="128M", processes=64))) as box:
            busy = [box.run(["/usr/bin/python3", "-S", "-c", CHURN], stdout=PIPE) for _ in range(2)]
            for proc in busy:
                assert proc.stdout.readline() == b"ready\n"
            events = []
            with Guard(interval=0.002, on_event=events.append, escape_interval=0.002) as guard:
                assert guard.proc_events == proc_events
                guard.watch(box.handle, target_for(box._live.ctx, box._live.view))
                start = guard.sweeps
                assert wait_until(lambda: guard.sweeps - start >= 500, 60)
            assert events == [] and all(proc.poll() is None for proc in busy)


def test_guard_uses_process_events_as_root_unless_told_not_to(monkeypatch):
    need_root()
    with Guard(interval=0.05) as guard:
        assert guard.proc_events
    monkeypatch.setenv("IRONFRAME_GUARD_PROC_EVENTS", "0")
    with Guard(interval=0.05) as guard:
        assert not guard.proc_events


def test_guard_survives_containers_destroyed_while_it_sweeps():
    need_root()
    root = make_root()
    with ContainerService(root, guard_interval=0.001) as service:
        guard = service._guard.guard
        started = []
        for _ in range(30):
            box = service.create(ContainerSpec(limits=Limits(memory="32M")))
            for _ in range(3):
                started.append(box.run(["/bin/sh", "-c", "exit 0"]))  # exiting mid-read
            started.append(box.run(list(SLEEP)))
            box.destroy()
        for proc in started:  # reap: no zombies left in the test process
            proc.wait(10)
        sweeps = guard.sweeps
        assert guard.running and wait_until(lambda: guard.sweeps > sweeps + 10, 10)
    assert not any(t.name == "ironframe-guard" for t in threading.enumerate())


def test_stopping_the_service_stops_the_thread():
    need_root()
    root = make_root()
    service = ContainerService(root, guard_interval=0.01)
    guard = service._guard.guard
    assert guard.running
    service.close()
    assert not guard.running
    assert not any(t.name == "ironframe-guard" for t in threading.enumerate())


def test_abi_mismatch_is_refused(monkeypatch):
    from ironframe_py import GuardError, guard

    load_core()
    monkeypatch.setattr(guard, "EXPECTED_ABI", 999)
    with pytest.raises(GuardError, match="rebuild"):
        load_core()


def test_a_target_of_another_os_is_refused_before_anything_is_watched():
    from ironframe_py.backends.windows.guard_target import WindowsGuardTarget

    guard = Guard(interval=0.05)
    try:
        with pytest.raises(TypeError, match="LinuxGuardTarget, not WindowsGuardTarget"):
            guard.watch("box", WindowsGuardTarget(job=4))
        assert guard._watched == {}
    finally:
        guard.stop()


# --- the C core on plain files (no privileges) -------------------------------------------------

def _files(tmp_path, usage: int, oom_kill: int = 0) -> LinuxGuardTarget:
    (tmp_path / "usage").write_text(f"{usage}\n")
    (tmp_path / "oom").write_text(f"oom_kill_disable 0\nunder_oom 0\noom_kill {oom_kill}\n")
    (tmp_path / "kill").write_text("")
    (tmp_path / "procs").write_text("")
    return LinuxGuardTarget(uid=1_899_777, procs_path=str(tmp_path / "procs"), memory_limit=1000,
                            usage_path=str(tmp_path / "usage"), oom_path=str(tmp_path / "oom"),
                            kill_path=str(tmp_path / "kill"))


def test_core_kills_on_breach_and_reports_it(tmp_path):
    seen = []
    guard = Guard(interval=0.005, on_event=seen.append)
    guard.watch("box", _files(tmp_path, usage=500))
    with guard:
        assert wait_until(lambda: guard.sweeps > 5, 5)
        assert seen == [] and (tmp_path / "kill").read_text() == ""
        (tmp_path / "usage").write_text("1500\n")
        assert wait_until(lambda: seen, 5)
    assert (tmp_path / "kill").read_text() == "1"
    assert (seen[0].key, seen[0].kind, seen[0].usage, seen[0].limit) == ("box", "memory", 1500, 1000)


def test_core_reports_new_oom_kills_once(tmp_path):
    seen = []
    guard = Guard(interval=0.002, on_event=seen.append)
    guard.watch("box", _files(tmp_path, usage=10, oom_kill=3))  # 3 before watching: not news
    with guard:
        assert wait_until(lambda: guard.sweeps > 40, 5)
        assert seen == []
        (tmp_path / "oom").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
        assert wait_until(lambda: seen, 5)
        assert wait_until(lambda: guard.sweeps > 80, 5)
    assert [(e.kind, e.count) for e in seen] == [("oom_kill", 4)]


def test_callback_errors_do_not_stop_the_guard(tmp_path):
    def explode(event):
        raise RuntimeError("callback bug")

    guard = Guard(interval=0.002, on_event=explode)
    guard.watch("box", _files(tmp_path, usage=5000))
    with guard:
        assert wait_until(lambda: guard.sweeps > 20, 5) and guard.running


def test_unwatch_closes_the_files(tmp_path):
    guard = Guard(interval=0.002)
    with guard:
        guard.watch("box", _files(tmp_path, usage=10))
        opened = set(os.listdir("/proc/self/fd"))
        guard.unwatch("box")
        guard.wait_applied()
        assert len(set(os.listdir("/proc/self/fd"))) < len(opened)
        assert guard.running and is_alive(os.getpid())


OVERFLOW_SIDE = """
import subprocess, sys, threading, time
sys.path.insert(0, sys.argv[1])
from test_guard import _become
from linux_support import make_root
from ironframe_py import ContainerService

events = []
with ContainerService(make_root(), guard_interval=0.01, on_event=lambda h, e: events.append(e)) as service:
    assert service._guard.guard.proc_events
    with service.create() as box:
        inside = box.run(["/bin/sleep", "300"])
        def storm():  # ~3 process events per run into a receive buffer of a few KiB
            for _ in range(400):
                subprocess.run(["/bin/true"])
        stormer = threading.Thread(target=storm)
        stormer.start()
        time.sleep(0.2)
        outsider = _become(box.uid)  # its UID event is likely among those dropped
        assert outsider.stdout.readline() == b"now\\n"
        stormer.join()
        status = outsider.wait(30)
        assert status == -9, status
        deadline = time.monotonic() + 5  # the C core kills first; the event follows its sweep
        while not events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert inside.poll() is None
        assert [(e.kind, e.pid) for e in events] == [("escapee", outsider.pid)], events
print("OVERFLOW-SIDE OK")
"""


def test_lost_process_events_are_noticed_and_the_table_rebuilt(tmp_path):
    """A receive buffer far too small for a burst of forks: the kernel drops events
    (ENOBUFS), the guard notices, rebuilds its table from /proc, and still kills
    the escapee and nothing else."""
    need_root()
    script = tmp_path / "overflow.py"
    script.write_text(OVERFLOW_SIDE)
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, IRONFRAME_DEBUG="1", IRONFRAME_GUARD_EVENT_BUFFER="2048",
               PYTHONPATH=os.pathsep.join([here, os.path.dirname(here), REPO]))
    result = subprocess.run([sys.executable, str(script), here], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0 and "OVERFLOW-SIDE OK" in result.stdout, result.stderr[-3000:]
    assert "process events overflowed: rescanning /proc" in result.stderr
