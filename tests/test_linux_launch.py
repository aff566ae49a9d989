"""The C spawn helper, for real, as root: what the child is before it runs any user code.

Each test starts a child with :func:`launch.spawn` and reads its state from
``/proc/<pid>`` -- the kernel's view, not ours.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading

import pytest
from _support import need_root
from hypothesis import given
from hypothesis import strategies as st

from ironframe_py import NotFound, OSCallError, SpecError

UID = 1_899_001  # outside the default container range: these tests make no containers


@pytest.fixture
def launch():
    need_root()
    from ironframe_py.backends.linux import launch as module

    return module


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="ironframe-launch-", dir="/tmp")
    os.chown(path, UID, UID)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def pids_cgroup():
    """A throwaway v1 pids cgroup and a cgroup2 directory of our own."""
    need_root()
    made = []
    for top in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified"):
        if os.path.isdir(top):
            path = os.path.join(top, f"ironframe-launchtest-{os.getpid()}")
            os.mkdir(path)
            made.append(path)
    yield made
    for path in made:
        os.rmdir(path)


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as file:
        return dict(line.rstrip("\n").split(":\t", 1) for line in file if ":\t" in line)


def _start(launch, workdir, argv=("/bin/sleep", "30"), env=None, cgroups=(), stdio=(0, 1, 2)):
    proc = launch.spawn(argv[0], list(argv), env or {"PATH": "/bin"}, workdir, UID, UID,
                        [os.path.join(c, "cgroup.procs") for c in cgroups], stdio)
    return proc


def _finish(proc) -> int:
    proc.send_signal(signal.SIGKILL)
    status = proc.wait(10)
    proc.close()
    return status


def test_child_identity_session_and_privileges(launch, workdir):
    proc = _start(launch, workdir)
    try:
        status = _status(proc.pid)
        assert status["Uid"].split() == [str(UID)] * 4
        assert status["Gid"].split() == [str(UID)] * 4
        assert status["Groups"].strip() == ""
        assert status["NoNewPrivs"].strip() == "1"
        assert os.getsid(proc.pid) == proc.pid and os.getpgid(proc.pid) == proc.pid
        assert os.readlink(f"/proc/{proc.pid}/cwd") == workdir
        assert _status(proc.pid)["SigIgn"].strip("0") == ""  # nothing ignored, even SIGPIPE
    finally:
        assert _finish(proc) == -signal.SIGKILL


def test_child_is_in_the_cgroups_before_exec(launch, workdir, pids_cgroup):
    # /bin/cat /proc/self/cgroup reports where the exec'd program itself runs.
    read_end, write_end = os.pipe()
    proc = _start(launch, workdir, ("/bin/cat", "/proc/self/cgroup"), cgroups=pids_cgroup,
                  stdio=(0, write_end, 2))
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        memberships = pipe.read()
    assert proc.wait(10) == 0
    for path in pids_cgroup:
        relative = path.split("/sys/fs/cgroup/", 1)[1].split("/", 1)[1]
        assert f":/{relative}\n" in memberships


def test_only_stdio_is_inherited(launch, workdir):
    leaked = os.open("/dev/null", os.O_RDONLY)  # inheritable on purpose
    os.set_inheritable(leaked, True)
    proc = _start(launch, workdir)
    try:
        assert sorted(int(fd) for fd in os.listdir(f"/proc/{proc.pid}/fd")) == [0, 1, 2]
    finally:
        os.close(leaked)
        _finish(proc)


def test_environment_is_exactly_what_was_given(launch, workdir):
    read_end, write_end = os.pipe()
    proc = _start(launch, workdir, ("/usr/bin/env",), env={"A": "1", "PATH": "/bin"},
                  stdio=(0, write_end, 2))
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        assert pipe.read().split() == ["A=1", "PATH=/bin"]
    assert proc.wait(10) == 0


def test_stdio_sources_that_are_0_1_2_themselves(launch, workdir):
    # stdout of the child is our fd 2 and stderr our fd 1: a naive dup2 order would lose one.
    proc = _start(launch, workdir, ("/bin/true",), stdio=(0, 2, 1))
    assert proc.wait(10) == 0


def test_wait_timeout_and_exit_codes(launch, workdir):
    proc = _start(launch, workdir)
    assert proc.wait(0.05) is None
    assert _finish(proc) == -signal.SIGKILL
    proc = _start(launch, workdir, ("/bin/sh", "-c", "exit 5"))
    assert proc.wait(10) == 5


def test_exec_failure_names_the_stage(launch, workdir):
    script = os.path.join(workdir, "not-executable")
    with open(script, "w") as file:
        file.write("#!/bin/sh\n")
    with pytest.raises(OSCallError) as info:
        _start(launch, workdir, (script,))
    assert info.value.function == "spawn:exec" and info.value.errno == 13


def test_chdir_into_a_directory_the_uid_cannot_enter(launch):
    need_root()
    with pytest.raises(OSCallError) as info:
        _start(launch, "/root")
    assert info.value.function == "spawn:chdir" and isinstance(info.value, PermissionError)
    with pytest.raises(NotFound):
        _start(launch, "/no/such/dir")


def test_spawning_from_many_threads(launch, workdir):
    results: list[int] = []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            status = _start(launch, workdir, ("/bin/true",)).wait(10)
            with lock:
                results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [0] * 40


def test_resolve_executable(launch, workdir):
    assert launch.resolve_executable("sh", "/nonexistent:/bin", workdir) == "/bin/sh"
    assert launch.resolve_executable("/bin/sh", None, workdir) == "/bin/sh"
    with pytest.raises(SpecError) as info:
        launch.resolve_executable("no-such-tool", "/bin", workdir)
    assert info.value.field == "argv[0]"
    with pytest.raises(SpecError):
        launch.resolve_executable("/etc/passwd", None, workdir)  # exists, not executable


@given(st.dictionaries(st.text("ABCXYZ_", min_size=1, max_size=4), st.text(max_size=5), max_size=4),
       st.dictionaries(st.text("ABCXYZ_", min_size=1, max_size=4), st.text(max_size=5), max_size=4))
def test_build_env_layers_and_never_leaks_the_host(container_env, process_env):
    from ironframe_py.backends.linux.launch import DEFAULT_PATH, build_env

    env = build_env(container_env, process_env, home="/c")
    assert env == {"PATH": DEFAULT_PATH, "HOME": "/c", **container_env, **process_env}
    assert not set(env) - {"PATH", "HOME"} - set(container_env) - set(process_env)
