"""End-to-end Linux containers, for real, as root: limits, isolation, destroy, bad input.

Every assertion about isolation or cleanup is checked on the OS (processes,
/proc, cgroupfs, mountinfo, loop devices, the filesystem), not in our store.
"""

from __future__ import annotations

import errno
import os
import signal
import textwrap
import time

import pytest
from linux_support import (
    assert_no_trace,
    cgroup_dirs_named,
    is_alive,
    loops_backed_under,
    mounts_under,
    processes_of_uid,
    )

from ironframe_py import PIPE, ContainerNotFound, ContainerSpec, InvalidState, Limits, ProcessSpec, SpecError

# The system interpreter: container users cannot enter /root, where pyenv's or a venv's may live.
PY = "/usr/bin/python3"


def py(code: str) -> list[str]:
    """argv running ``code`` with the system Python (-S: skip site dirs the user may not read)."""
    return [PY, "-S", "-c", textwrap.dedent(code)]


def run(box, code: str, **kwargs):
    proc = box.run(py(code), stdout=PIPE, stderr=PIPE, text=True, **kwargs)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


ALLOCATE = """
    import sys
    chunks = []
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else {mb}):
        chunks.append(bytearray(1 << 20))
    print("allocated", len(chunks))
"""


def test_memory_limit_kills_a_process_that_allocates_past_it(service):
    with service.create(ContainerSpec(limits=Limits(memory="64M"))) as box:
        status, out, _ = run(box, ALLOCATE.format(mb=200))
        assert status == -signal.SIGKILL and "allocated" not in out
        events = box.info().kill_events
        assert len(events) == 1 and events[0].kind in ("oom_kill", "memory"), events
        assert events[0].limit == 64 << 20
        assert events[0].usage is not None and events[0].usage >= 60 << 20


def test_process_under_the_memory_limit_completes(service):
    with service.create(ContainerSpec(limits=Limits(memory="64M"))) as box:
        status, out, _ = run(box, ALLOCATE.format(mb=16))
        assert (status, out.strip()) == (0, "allocated 16")
        assert box.info().kill_events == ()


def test_process_limit_stops_a_fork_bomb(service):
    limit = 12
    with service.create(ContainerSpec(limits=Limits(processes=limit))) as box:
        status, out, _ = run(box, """
            import os, time
            children = []
            while True:
                try:
                    pid = os.fork()
                except OSError as err:
                    print(len(children), err.errno)
                    break
                if pid == 0:
                    os.closerange(0, 3)  # keep the test's stdout pipe free to reach EOF
                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
                if len(children) > 500:
                    print(len(children), 0)
                    break
        """)
        forked, err = map(int, out.split())
        assert err == errno.EAGAIN
        assert forked == limit - 1  # the parent is the limit's first process
        assert len(box.pids()) <= limit


def test_containers_cannot_touch_each_other(service):
    with service.create() as a, service.create() as b:
        assert a.uid != b.uid and 0 not in (a.uid, b.uid)
        secret = os.path.join(b.path, "secret")
        status, _, _ = run(b, f"open({secret!r}, 'w').write('b only')")
        assert status == 0
        sleeper = b.run(["/bin/sleep", "30"])
        status, out, _ = run(a, f"""
            import os
            results = []
            for attempt in (lambda: os.listdir({b.path!r}), lambda: open({secret!r}).read(),
                            lambda: open({b.path!r} + "/x", "w"), lambda: os.kill({sleeper.pid}, 9)):
                try:
                    attempt()
                    results.append("allowed")
                except (PermissionError, FileNotFoundError):  # not even in view
                    results.append("denied")
            print(" ".join(results))
        """)
        assert (status, out.split()) == (0, ["denied"] * 4)
        assert sleeper.poll() is None
        status, out, _ = run(a, "import os; print(os.getuid(), os.getgid(), os.getgroups())")
        assert out.split() == [str(a.uid), str(a.uid), "[]"]


def test_directory_ownership_mode_and_admin_acl(service):
    import subprocess

    with service.create() as box:
        st = os.stat(box.path)
        assert (st.st_uid, st.st_gid) == (box.uid, box.uid)
        assert st.st_mode & 0o007 == 0  # nothing for others
        acl = subprocess.run(["getfacl", "-n", "-p", box.path], capture_output=True, text=True,
                             check=True).stdout
        assert "\ngroup:0:rwx" in acl and "\ndefault:group:0:rwx" in acl


def test_destroy_kills_double_forked_setsid_processes_and_leaves_nothing(service):
    box = service.create(ContainerSpec(limits=Limits(memory="64M", processes=20)))
    handle, uid, root = box.handle, box.uid, service.root
    status, out, _ = run(box, """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.setsid()
                os.closerange(0, 3)
                time.sleep(600)
                os._exit(0)
            os._exit(0)
        time.sleep(0.2)
        print(" ".join(p for p in os.listdir("/proc") if p.isdigit()
                       if os.stat("/proc/" + p).st_uid == os.getuid() and int(p) != os.getpid()))
    """)
    escaped = [int(p) for p in out.split()]
    assert status == 0 and escaped
    assert cgroup_dirs_named(handle)
    box.destroy()
    assert [pid for pid in escaped if is_alive(pid)] == []
    assert_no_trace(root, handle, uid)
    with pytest.raises(InvalidState):
        box.run(["/bin/true"])
    with pytest.raises(ContainerNotFound):
        service.get(handle)


def test_disk_limit_write_fails_and_loop_filesystem_is_removed(service):
    box = service.create(ContainerSpec(limits=Limits(disk="16M")))
    handle, uid = box.handle, box.uid
    assert mounts_under(box.path) == [box.path]
    assert loops_backed_under(service.root)
    status, out, _ = run(box, """
        import errno
        written = 0
        try:
            with open("big", "wb") as f:
                while written < 64 << 20:
                    f.write(b"x" * 65536)
                    f.flush()
                    written += 65536
        except OSError as err:
            print(errno.errorcode[err.errno], written)
    """)
    code, written = out.split()
    assert status == 0 and code in ("ENOSPC", "EDQUOT")
    assert int(written) <= 16 << 20
    info = box.info()
    assert info.disk_method in ("loopfs", "quota") and info.limits.disk == 16 << 20
    assert info.disk_usage is not None and info.disk_usage > 8 << 20
    box.destroy()
    assert_no_trace(service.root, handle, uid)


def test_no_disk_limit_means_no_mount(service):
    with service.create() as box:
        assert mounts_under(box.path) == []
        assert box.info().disk_method is None


def test_limits_change_at_run_time_in_the_kernel(service):
    with service.create(ContainerSpec(limits=Limits(memory="64M", processes=10))) as box:
        box.limit_memory("128M")
        box.limit_processes(20)
        box.limit_cpu(weight=200, max=0.5)
        memory = [d for d in cgroup_dirs_named(box.handle) if "/memory/" in d][0]
        with open(os.path.join(memory, "memory.limit_in_bytes")) as file:
            assert int(file.read()) == 128 << 20
        pids = [d for d in cgroup_dirs_named(box.handle) if "/pids/" in d][0]
        with open(os.path.join(pids, "pids.max")) as file:
            assert file.read().strip() == "20"
        assert box.limits == Limits(memory=128 << 20, processes=20, cpu_weight=200, cpu_max=0.5)
        with pytest.raises(SpecError):
            box.limit_memory(0)


def test_process_environment_cwd_and_exit_code(service):
    with service.create(ContainerSpec(env={"FROM_CONTAINER": "1", "OVER": "c"})) as box:
        os.mkdir(os.path.join(box.path, "sub"))
        os.chown(os.path.join(box.path, "sub"), box.uid, box.uid)
        proc = box.run(ProcessSpec(["/usr/bin/env"], env={"OVER": "p"}, cwd="sub", stdout=PIPE))
        env = dict(line.split("=", 1) for line in proc.communicate(timeout=30)[0].decode().split("\n")
                   if line)
        assert env == {"FROM_CONTAINER": "1", "OVER": "p", "PATH": env["PATH"], "HOME": box.path}
        status, out, _ = run(box, "import os, sys; print(os.getcwd()); sys.exit(3)", cwd="sub")
        assert (status, out.strip()) == (3, os.path.join(box.path, "sub"))


def test_stdin_pipe_and_communicate(service):
    with service.create() as box:
        proc = box.run(["/bin/cat"], stdin=PIPE, stdout=PIPE)
        assert proc.communicate(b"round trip", timeout=30) == (b"round trip", None)
        assert proc.returncode == 0


def test_stop_ends_every_process_and_blocks_run(service):
    with service.create() as box:
        proc = box.run(["/bin/sleep", "60"])
        box.stop(timeout=5)
        assert proc.wait(5) == -signal.SIGTERM
        assert box.pids() == [] and box.state == "stopped"
        with pytest.raises(InvalidState):
            box.run(["/bin/true"])


def test_missing_executable_is_a_spec_error_and_starts_nothing(service):
    with service.create() as box:
        with pytest.raises(SpecError) as info:
            box.run(["/no/such/program"])
        assert info.value.field == "argv[0]"
        with pytest.raises(SpecError):
            box.run(["no-such-program-anywhere"])
        assert box.pids() == []


@pytest.mark.parametrize("spec_kwargs", [
    {"handle": "a/b"}, {"handle": ".."}, {"handle": "x\x00"}, {"handle": ""}, {"handle": "h" * 65},
])
def test_bad_handles_create_nothing(service, spec_kwargs):
    before = (service.list(), os.listdir(os.path.join(service.root, "containers")))
    with pytest.raises(SpecError) as info:
        service.create(ContainerSpec(**spec_kwargs))
    assert info.value.field == "handle"
    assert (service.list(), os.listdir(os.path.join(service.root, "containers"))) == before


def test_unknown_handle(service):
    with pytest.raises(ContainerNotFound):
        service.get("no-such-box")
    with pytest.raises(ContainerNotFound):
        service.destroy("no-such-box")


def test_duplicate_handle_is_refused_and_first_is_untouched(service):
    from ironframe_py import ContainerExists

    with service.create(ContainerSpec(handle="twin")) as box:
        with pytest.raises(ContainerExists):
            service.create(ContainerSpec(handle="TWIN"))
        assert os.path.isdir(box.path) and service.list() == ["twin"]


def _assert_never_made(service, handle: str) -> None:
    """A failed create() left nothing: no record, cgroup, directory, mount or loop device."""
    assert service.list() == []
    assert cgroup_dirs_named(handle) == []
    assert not os.path.exists(os.path.join(service.root, "containers", handle))
    assert mounts_under(service.root) == [] and loops_backed_under(service.root) == []


def test_failure_midway_rolls_back_everything(service, monkeypatch):
    """A step that fails after cgroups and the directory exist undoes them in reverse."""
    from ironframe_py.backends.linux import backend as linux_backend

    def broken(ctx):
        raise OSError(errno.EIO, "injected failure while securing the directory")

    monkeypatch.setattr(linux_backend.LinuxBackend, "_secure_dir", lambda self, ctx: broken(ctx))
    with pytest.raises(OSError, match="injected"):
        service.create(ContainerSpec(handle="halfway", limits=Limits(memory="32M", disk="8M")))
    _assert_never_made(service, "halfway")


def test_a_guard_that_cannot_watch_the_new_container_undoes_its_creation(service, monkeypatch):
    """The last step of create() -- handing the container to the guard -- fails: nothing stays."""
    def refuse(ctx, view):
        raise OSError(errno.EMFILE, "injected: no fd left to watch the cgroup files")

    monkeypatch.setattr(service._guard, "watch", refuse)
    with pytest.raises(OSError, match="injected"):
        service.create(ContainerSpec(handle="unwatched", limits=Limits(memory="32M", disk="8M")))
    _assert_never_made(service, "unwatched")


def test_get_from_a_second_service_sees_the_same_container(service):
    from ironframe_py import ContainerService

    with service.create() as box:
        with ContainerService(service.root, guard_interval=None) as other:
            again = other.get(box.handle)
            assert (again.uid, again.path) == (box.uid, box.path)
            status, out, _ = run(again, "import os; print(os.getuid())")
            assert out.strip() == str(box.uid)


def test_info_reports_usage(service):
    with service.create(ContainerSpec(limits=Limits(memory="64M", processes=8),
                                      properties={"app": "demo"})) as box:
        proc = box.run(py("import time\nx = bytearray(8 << 20)\nsum(range(3_000_000))\ntime.sleep(30)"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (box.info().memory_usage or 0) < 8 << 20:
            time.sleep(0.05)
        info = box.info()
        assert info.memory_usage >= 8 << 20 and info.processes == 1
        assert info.cpu_time is not None and info.cpu_time > 0
        assert info.properties == {"app": "demo"} and info.state == "active"
        assert processes_of_uid(box.uid) == [proc.pid]
        proc.kill()
        proc.wait(10)


def test_destroy_is_idempotent_and_a_failed_destroy_can_be_retried(service, monkeypatch):
    from ironframe_py import CleanupError
    from ironframe_py.backends.linux import backend as linux_backend

    box = service.create(ContainerSpec(limits=Limits(memory="32M")))
    real_release = linux_backend.LinuxBackend.release
    calls = []

    def flaky_release(self, resource):
        if resource.kind == "dir" and not calls:
            calls.append(resource)
            raise OSError(16, "injected: busy")
        return real_release(self, resource)

    monkeypatch.setattr(linux_backend.LinuxBackend, "release", flaky_release)
    with pytest.raises(CleanupError):
        box.destroy()
    assert box.state == "destroying" and service.list() == [box.handle]
    assert os.path.isdir(box.path)
    box.destroy()
    assert box.state == "destroyed" and service.list() == [] and not os.path.exists(box.path)
    assert cgroup_dirs_named(box.handle) == []
    box.destroy()  # idempotent


def test_services_with_different_roots_never_share_a_uid(service):
    import shutil as _shutil

    from linux_support import make_root

    from ironframe_py import ContainerService
    from ironframe_py.backends.linux.users import claim_path

    other_root = make_root()
    try:
        with ContainerService(other_root, guard_interval=None) as other:
            with service.create() as mine, other.create() as theirs:
                assert mine.uid != theirs.uid
                for box in (mine, theirs):
                    with open(claim_path(box.uid)) as claim:
                        assert claim.read().splitlines()[1] == box.handle
            assert not os.path.exists(claim_path(mine.uid))
            assert not os.path.exists(claim_path(theirs.uid))
    finally:
        _shutil.rmtree(other_root)


def test_refuses_a_job_container_before_anything_is_made(root):
    """isolation='job' is a Windows model: the Linux backend refuses it up front."""
    from ironframe_py import ContainerService, UnsupportedOnPlatform

    with ContainerService(root, guard_interval=None) as service:
        with pytest.raises(UnsupportedOnPlatform) as raised:
            service.create(ContainerSpec(handle="j", isolation="job"))
        assert "isolation='job'" in str(raised.value) and "linux" in str(raised.value)
        assert service.list() == []
        assert not os.path.exists(os.path.join(root, "containers", "j"))
