"""The C spawn helper and the process handle, for real, as root.

Each test starts a child with :func:`launch.spawn` and reads what it became
from ``/proc/<pid>`` -- the kernel's view, not ours.  Cgroups are made under
a parent of our own below this process's current cgroup, removed by
finalizers registered as they are created.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import threading

import pytest
from _support import need, need_root
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironframe_py import AccessDenied, InvalidState, NotFound, OSCallError, SpecError

UID = 1_899_001  # outside the default container range: these tests make no containers
GID = 1_899_002  # differs from UID, so a swapped uid/gid would show


@pytest.fixture
def launch():
    need_root()
    from ironframe_py.backends.linux import launch as module

    return module


@pytest.fixture
def workdir(request):
    path = tempfile.mkdtemp(prefix="ironframe-launch-", dir="/tmp")
    request.addfinalizer(lambda: shutil.rmtree(path))
    os.chown(path, UID, GID)
    return path


def _current_cgroup(hierarchy: str) -> str:
    """This process's cgroup path in a v1 controller hierarchy, or in cgroup2 (``""``)."""
    with open("/proc/self/cgroup") as file:
        for line in file:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if (hierarchy in controllers.split(",")) if hierarchy else controllers == "":
                return path
    raise LookupError(hierarchy)


def make_cgroup(request, mount: str, hierarchy: str, name: str) -> str:
    """``<our cgroup>/ironframe-test-launch-<pid>/<name>`` in one hierarchy; removed by finalizers."""
    need(os.path.isdir(mount), f"{mount} is not mounted")
    parent = os.path.join(mount + _current_cgroup(hierarchy).rstrip("/"),
                          f"ironframe-test-launch-{os.getpid()}")
    if not os.path.isdir(parent):
        os.mkdir(parent)
        request.addfinalizer(lambda: os.rmdir(parent))
    path = os.path.join(parent, name)
    os.mkdir(path)
    request.addfinalizer(lambda: os.rmdir(path))  # runs before the parent's: finalizers are LIFO
    return path


@pytest.fixture
def two_cgroups(request):
    """A v1 pids cgroup and a cgroup2 directory (controller-less hybrid hierarchy)."""
    need_root()
    return [make_cgroup(request, "/sys/fs/cgroup/pids", "pids", "pids-child"),
            make_cgroup(request, "/sys/fs/cgroup/unified", "", "v2-child")]


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as file:
        return dict(line.rstrip("\n").split(":\t", 1) for line in file if ":\t" in line)


def _start(launch, workdir, argv=("/bin/sleep", "30"), env=None, cgroups=(), stdio=(0, 1, 2)):
    return launch.spawn(argv[0], list(argv), env or {"PATH": "/bin"}, workdir, UID, GID,
                        [os.path.join(c, "cgroup.procs") for c in cgroups], stdio)


def _finish(proc) -> int:
    proc.send_signal(signal.SIGKILL)
    status = proc.wait(10)
    proc.close()
    return status


def _output(launch, workdir, argv, env=None) -> tuple[str, int]:
    read_end, write_end = os.pipe()
    try:
        proc = _start(launch, workdir, argv, env=env, stdio=(0, write_end, 2))
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    status = proc.wait(10)
    proc.close()
    return text, status


def _zombie_children() -> set[int]:
    """Our unreaped children (compare before/after: earlier tests' leftovers may be there)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                found.add(int(entry))
    return found


# --- what the child is ---------------------------------------------------------------------------


def test_child_identity_session_and_privileges(launch, workdir):
    old_umask = os.umask(0o077)  # the child must get 022, not inherit ours
    try:
        proc = _start(launch, workdir)
    finally:
        os.umask(old_umask)
    try:
        status = _status(proc.pid)
        assert status["Uid"].split() == [str(UID)] * 4
        assert status["Gid"].split() == [str(GID)] * 4
        assert status["Groups"].strip() == ""
        assert status["NoNewPrivs"].strip() == "1"
        assert status["Umask"].strip() == "0022"
        assert int(status["SigIgn"], 16) == 0  # nothing ignored, even where the host ignores SIGPIPE
        assert int(status["SigBlk"], 16) == 0
        assert os.getsid(proc.pid) == proc.pid and os.getpgid(proc.pid) == proc.pid
        assert os.readlink(f"/proc/{proc.pid}/cwd") == workdir
    finally:
        assert _finish(proc) == -signal.SIGKILL


def test_child_is_in_the_cgroups_before_exec(launch, workdir, two_cgroups):
    # The exec'd program reads its own membership: it was placed before it ran.
    read_end, write_end = os.pipe()
    proc = _start(launch, workdir, ("/bin/cat", "/proc/self/cgroup"), cgroups=two_cgroups,
                  stdio=(0, write_end, 2))
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        memberships = pipe.read().splitlines()
    assert proc.wait(10) == 0
    proc.close()
    pids_rel = two_cgroups[0].removeprefix("/sys/fs/cgroup/pids")
    v2_rel = two_cgroups[1].removeprefix("/sys/fs/cgroup/unified")
    assert any(line.endswith(f":pids:{pids_rel}") for line in memberships), memberships
    assert f"0::{v2_rel}" in memberships


def test_a_cgroup_the_child_cannot_join_fails_at_that_stage(launch, workdir, request):
    need_root()
    # A v1 cpuset cgroup with no CPUs assigned refuses tasks (ENOSPC).
    cpuset = make_cgroup(request, "/sys/fs/cgroup/cpuset", "cpuset", "no-cpus")
    procs = os.path.join(cpuset, "cgroup.procs")
    zombies = _zombie_children()
    with pytest.raises(OSCallError) as info:
        _start(launch, workdir, ("/bin/true",), cgroups=[cpuset])
    assert info.value.function == "spawn:cgroup" and info.value.target == procs
    assert _zombie_children() == zombies  # the failed child was reaped
    with open(procs) as file:
        assert file.read() == ""


def test_only_stdio_is_inherited(launch, workdir):
    leaked = os.open("/dev/null", os.O_RDONLY)
    os.set_inheritable(leaked, True)  # no close-on-exec: only the helper's close can stop it
    try:
        proc = _start(launch, workdir)
        try:
            assert sorted(int(fd) for fd in os.listdir(f"/proc/{proc.pid}/fd")) == [0, 1, 2]
        finally:
            _finish(proc)
    finally:
        os.close(leaked)


def test_environment_is_exactly_what_was_given(launch, workdir, monkeypatch):
    monkeypatch.setenv("IRONFRAME_HOST_SECRET", "must-not-leak")
    text, status = _output(launch, workdir, ("/usr/bin/env",), env={"A": "1", "PATH": "/bin"})
    assert status == 0
    assert text.split("\n") == ["A=1", "PATH=/bin", ""]


def test_stdio_sources_that_are_0_1_2_themselves(launch, workdir):
    # The child's stdout is a pipe placed at fd 0 of the parent, its stdin our fd 1:
    # a naive dup2 order would overwrite the pipe before copying it.
    read_end, write_end = os.pipe()
    saved_stdin = os.dup(0)
    try:
        os.dup2(write_end, 0)
        os.close(write_end)
        proc = _start(launch, workdir, ("/bin/sh", "-c", "echo out-on-1"), stdio=(2, 0, 1))
    finally:
        os.dup2(saved_stdin, 0)
        os.close(saved_stdin)
    with os.fdopen(read_end) as pipe:
        assert pipe.read() == "out-on-1\n"
    assert proc.wait(10) == 0


# --- wait, signals, close ------------------------------------------------------------------------


def test_wait_timeout_and_exit_codes(launch, workdir):
    proc = _start(launch, workdir)
    assert proc.wait(0) is None
    assert proc.wait(0.05) is None
    assert "running" in repr(proc)
    assert _finish(proc) == -signal.SIGKILL
    assert f"pid={proc.pid}" in repr(proc) and "-9" in repr(proc)
    proc = _start(launch, workdir, ("/bin/sh", "-c", "exit 5"))
    assert proc.wait(None) == 5
    assert proc.wait(0) == 5  # stays known after the reap
    proc.close()
    proc.close()  # idempotent


def test_signals_reach_the_whole_process_group(launch, workdir):
    read_end, write_end = os.pipe()
    proc = _start(launch, workdir, ("/bin/sh", "-c", "sleep 30 & echo $!; wait"),
                  stdio=(0, write_end, 2))
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        grandchild = int(pipe.readline())
    try:
        assert os.getpgid(grandchild) == proc.pid
        pidfd = os.pidfd_open(grandchild)
    finally:
        proc.send_signal(signal.SIGKILL)
    try:
        assert proc.wait(10) == -signal.SIGKILL
        # The grandchild (reaped by init) died too: its pidfd turns readable on exit.
        import select

        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        assert poller.poll(10_000), "the grandchild outlived a signal to the group"
    finally:
        os.close(pidfd)
        proc.close()


def test_signal_after_exit_is_not_an_error_and_closed_handles_refuse(launch, workdir):
    proc = _start(launch, workdir, ("/bin/true",))
    assert proc.wait(10) == 0
    proc.send_signal(signal.SIGTERM)  # reaped: nothing happens
    proc.close()
    proc.send_signal(signal.SIGTERM)
    running = _start(launch, workdir)
    try:
        pid = running.pid
        running.close()
        with pytest.raises(InvalidState):
            running.wait(0)
        with pytest.raises(InvalidState):
            running.send_signal(signal.SIGKILL)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_two_threads_waiting_get_the_same_status(launch, workdir):
    proc = _start(launch, workdir)
    results: list[int | None] = []
    threads = [threading.Thread(target=lambda: results.append(proc.wait(30))) for _ in range(3)]
    for thread in threads:
        thread.start()
    proc.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    assert results == [-signal.SIGTERM] * 3
    proc.close()


# --- failures ------------------------------------------------------------------------------------


def test_exec_failure_names_the_stage(launch, workdir):
    zombies = _zombie_children()
    script = os.path.join(workdir, "not-executable")
    with open(script, "w") as file:
        file.write("#!/bin/sh\n")
    with pytest.raises(AccessDenied) as info:  # an OSCallError subclass, from errno EACCES
        _start(launch, workdir, (script,))
    assert info.value.function == "spawn:exec" and info.value.target == script
    assert _zombie_children() == zombies


def test_exec_of_a_missing_file_is_not_found(launch, workdir):
    with pytest.raises(NotFound) as info:
        _start(launch, workdir, ("/no/such/program",))
    assert info.value.function == "spawn:exec"


def test_chdir_into_a_directory_the_uid_cannot_enter(launch, request):
    need_root()
    private = tempfile.mkdtemp(prefix="ironframe-launch-private-", dir="/tmp")  # 0700, root's
    request.addfinalizer(lambda: os.rmdir(private))
    zombies = _zombie_children()
    with pytest.raises(AccessDenied) as info:
        _start(launch, private)
    assert info.value.function == "spawn:chdir" and info.value.target == private
    with pytest.raises(NotFound):
        _start(launch, "/no/such/dir")
    assert _zombie_children() == zombies


def test_bad_arguments_fail_before_any_process(launch, workdir):
    with pytest.raises(SpecError):
        launch.spawn("/bin/true", [], {}, workdir, UID, GID, [], (0, 1, 2))
    with pytest.raises(SpecError):
        launch.spawn("/bin/true", ["true"], {"A=B": "1"}, workdir, UID, GID, [], (0, 1, 2))
    with pytest.raises(ValueError):
        launch.spawn("/bin/true", ["true", "a\0b"], {}, workdir, UID, GID, [], (0, 1, 2))


def test_spawning_from_many_threads(launch, workdir):
    results: list[int] = []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            proc = _start(launch, workdir, ("/bin/true",))
            status = proc.wait(10)
            proc.close()
            with lock:
                results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [0] * 40


# --- resolve_executable and build_env ---------------------------------------------------------------


def test_resolve_executable(launch, workdir):
    assert launch.resolve_executable("sh", "/nonexistent:/bin", workdir) == "/bin/sh"
    assert launch.resolve_executable("/bin/sh", None, workdir) == "/bin/sh"
    assert launch.resolve_executable("env", None, workdir) == "/usr/bin/env"
    tool = os.path.join(workdir, "tool")
    with open(tool, "w") as file:
        file.write("#!/bin/sh\n")
    os.chmod(tool, 0o755)
    assert launch.resolve_executable("./tool", None, workdir) == os.path.join(workdir, "./tool")
    assert launch.resolve_executable("tool", "", workdir) == tool  # empty PATH item: cwd
    with pytest.raises(SpecError) as info:
        launch.resolve_executable("no-such-tool", "/bin", workdir)
    assert info.value.field == "argv[0]" and info.value.value == "no-such-tool"
    with pytest.raises(SpecError):
        launch.resolve_executable("/etc/passwd", None, workdir)  # exists, not executable
    with pytest.raises(SpecError):
        launch.resolve_executable("/bin", None, workdir)  # executable bit, but a directory
    with pytest.raises(SpecError):
        launch.resolve_executable("", None, workdir)


_NAMES = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=12)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_NAMES, mode=st.sampled_from([0o644, 0o755, 0o700, 0o100, 0o600]),
       first_mode=st.sampled_from([None, 0o644, 0o755]))
def test_resolve_executable_finds_exactly_the_first_executable(launch, workdir, name, mode,
                                                              first_mode):
    if name in (".", ".."):
        return
    folders = [tempfile.mkdtemp(dir=workdir) for _ in range(2)]
    try:
        for folder, file_mode in zip(folders, (first_mode, mode)):
            if file_mode is not None:
                path = os.path.join(folder, name)
                open(path, "w").close()
                os.chmod(path, file_mode)
        candidates = [(folder, m) for folder, m in zip(folders, (first_mode, mode))
                      if m is not None and m & 0o111]
        if candidates:
            found = launch.resolve_executable(name, ":".join(folders), workdir)
            assert found == os.path.join(candidates[0][0], name)
            assert stat.S_ISREG(os.stat(found).st_mode)
        else:
            with pytest.raises(SpecError):
                launch.resolve_executable(name, ":".join(folders), workdir)
    finally:
        for folder in folders:
            shutil.rmtree(folder)


_ENV = st.dictionaries(st.text("ABCXYZ_", min_size=1, max_size=4), st.text(max_size=5), max_size=4)


@given(_ENV, _ENV, st.text(min_size=1, max_size=10))
def test_build_env_layers_and_never_leaks_the_host(container_env, process_env, home):
    from ironframe_py.backends.linux.launch import DEFAULT_PATH, build_env

    env = build_env(container_env, process_env, home=home)
    assert env == {"PATH": DEFAULT_PATH, "HOME": home, **container_env, **process_env}
    assert not set(env) - {"PATH", "HOME"} - set(container_env) - set(process_env)
    for name, value in process_env.items():
        assert env[name] == value  # the process's own value wins
