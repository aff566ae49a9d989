"""The guard core on its own: raw cgroups made here (no cgroup module, no service),
the Windows core cross-built with mingw-w64 and run under Wine.

Linux tests make their cgroups with os.mkdir under
``<this process's cgroup>/ironframe-guardtest-<pid>`` in the memory,
freezer and unified (cgroup2) hierarchies, and remove them in finalizers.
Bounds are generous ("within 20 poll intervals" plus process start-up):
they catch a guard that does not act, not a slow machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest
from _support import REPO, need, need_root, wait_until

from ironframe_py.backends.linux.guard_target import LinuxGuardTarget
from ironframe_py.guard import Guard

GUARD_DIR = os.path.join(REPO, "ironframe_py", "_guard")
HIERARCHIES = ("memory", "freezer", "unified")
UID = 1_870_000 + os.getpid() % 10_000  # no one else on the host runs as it
INTERVAL = 0.01
ALLOCATE = ["/usr/bin/python3", "-S", "-c",
            "import time\nchunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))\n"
            "    time.sleep(0.002)"]
SLEEP = ["/bin/sleep", "300"]


def _own_cgroup(hierarchy: str) -> str:
    """This process's cgroup path in ``hierarchy`` ("unified" is cgroup2)."""
    with open("/proc/self/cgroup") as cgroups:
        for line in cgroups:
            number, controllers, path = line.rstrip("\n").split(":", 2)
            if (hierarchy == "unified" and number == "0") or hierarchy in controllers.split(","):
                return path
    raise LookupError(hierarchy)


def _pids(directory: str) -> list[int]:
    with open(os.path.join(directory, "cgroup.procs")) as procs:
        return [int(line) for line in procs if line.strip()]


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def _remove_cgroup(directory: str) -> None:
    """Thaw, kill what is left, wait until empty, remove."""
    if not os.path.isdir(directory):
        return
    state = os.path.join(directory, "freezer.state")
    if os.path.exists(state):
        _write(state, "THAWED")
    for pid in _pids(directory):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue  # exited meanwhile
    wait_until(lambda: _pids(directory) == [], 10)
    os.rmdir(directory)


@pytest.fixture
def cgroups(request):
    """``make(name) -> {hierarchy: dir}``: a cgroup per hierarchy under our own parent."""
    need_root()
    for hierarchy in HIERARCHIES:
        need(os.path.exists(f"/sys/fs/cgroup/{hierarchy}/cgroup.procs"),
             f"no {hierarchy} cgroup hierarchy at /sys/fs/cgroup/{hierarchy}")
    made: list[str] = []
    request.addfinalizer(lambda: [_remove_cgroup(d) for d in reversed(made)])

    def make(name: str) -> dict[str, str]:
        dirs = {}
        for hierarchy in HIERARCHIES:
            parent = (f"/sys/fs/cgroup/{hierarchy}{_own_cgroup(hierarchy).rstrip('/')}"
                      f"/ironframe-guardtest-{os.getpid()}")
            for directory in (parent, os.path.join(parent, name)):
                if not os.path.isdir(directory):
                    os.mkdir(directory)
                    made.append(directory)
            dirs[hierarchy] = os.path.join(parent, name)
        return dirs

    return make


@pytest.fixture
def spawn(request):
    """``spawn(argv, dirs) -> Popen``: a process of UID inside ``dirs``, reaped at the end."""
    started: list[subprocess.Popen] = []

    def reap() -> None:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)

    request.addfinalizer(reap)

    def spawn(argv: list[str], dirs: dict[str, str]) -> subprocess.Popen:
        def enter() -> None:  # test helper only: the service has its own spawn path
            for directory in dirs.values():
                _write(os.path.join(directory, "cgroup.procs"), "0")
            os.setgroups([])
            os.setgid(UID)
            os.setuid(UID)

        proc = subprocess.Popen(argv, preexec_fn=enter, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        started.append(proc)
        return proc

    return spawn


def _target(dirs: dict[str, str], limit: int | None, *, kill: bool = True) -> LinuxGuardTarget:
    memory, unified = dirs["memory"], dirs["unified"]
    kill_path = os.path.join(unified, "cgroup.kill")
    return LinuxGuardTarget(
        uid=UID, procs_path=os.path.join(unified, "cgroup.procs"), memory_limit=limit,
        usage_path=os.path.join(memory, "memory.usage_in_bytes"),
        oom_path=os.path.join(memory, "memory.oom_control"),
        event_control_path=os.path.join(memory, "cgroup.event_control"),
        kill_path=kill_path if kill and os.path.exists(kill_path) else None,
        freezer_path=os.path.join(dirs["freezer"], "freezer.state"))


@pytest.mark.parametrize("kill", ["cgroup.kill", "freezer"])
def test_breach_kills_every_process_of_the_container(cgroups, spawn, kill):
    """Guard-only limit (40 MiB, kernel limit 256 MiB): the whole tree dies, by cgroup.kill
    or, without it, by freeze / SIGKILL / thaw."""
    dirs = cgroups("breach")
    if kill == "cgroup.kill":  # cgroup.kill since kernel 5.14 (not in the root cgroup)
        need(os.path.exists(os.path.join(dirs["unified"], "cgroup.kill")), "no cgroup.kill")
    _write(os.path.join(dirs["memory"], "memory.limit_in_bytes"), str(256 << 20))
    seen = []
    with Guard(interval=INTERVAL, on_event=seen.append) as guard:
        guard.watch("box", _target(dirs, 40 << 20, kill=kill == "cgroup.kill"))
        guard.wait_applied()
        worker = spawn(SLEEP, dirs)
        hog = spawn(ALLOCATE, dirs)
        assert hog.wait(60) == -signal.SIGKILL
        assert wait_until(lambda: worker.poll() is not None, 20 * INTERVAL + 1)
        assert worker.returncode == -signal.SIGKILL
        assert wait_until(lambda: _pids(dirs["unified"]) == [], 5)
    breaches = [e for e in seen if e.kind == "memory"]
    assert breaches and breaches[0].key == "box" and breaches[0].limit == 40 << 20
    assert 40 << 20 < breaches[0].usage < 256 << 20
    with open(os.path.join(dirs["freezer"], "freezer.state")) as state:
        assert state.read().strip() == "THAWED"  # the freezer path leaves nothing frozen


def test_escapee_moved_out_of_the_cgroup_is_killed_and_members_are_not(cgroups, spawn):
    dirs = cgroups("escape")
    seen = []
    with Guard(interval=INTERVAL, on_event=seen.append, escape_interval=INTERVAL) as guard:
        guard.watch("box", _target(dirs, None))
        member, escapee = spawn(SLEEP, dirs), spawn(SLEEP, dirs)
        assert wait_until(lambda: sorted(_pids(dirs["unified"])) == sorted([member.pid, escapee.pid]), 5)
        for directory in dirs.values():  # as root: out to the parent, in every hierarchy
            _write(os.path.join(os.path.dirname(directory), "cgroup.procs"), str(escapee.pid))
        assert escapee.wait(20 * INTERVAL + 5) == -signal.SIGKILL
        sweeps = guard.sweeps
        assert wait_until(lambda: guard.sweeps > sweeps + 20, 10)
        assert member.poll() is None
    assert [(e.kind, e.pid) for e in seen] == [("escapee", escapee.pid)]


def test_kernel_oom_kill_wakes_the_guard_which_stops_the_rest(cgroups, spawn):
    """v1, kernel limit = guard limit: the kernel OOM-kills the allocator, the guard the rest."""
    dirs = cgroups("oom")
    _write(os.path.join(dirs["memory"], "memory.limit_in_bytes"), str(48 << 20))
    seen = []
    with Guard(interval=INTERVAL, on_event=seen.append) as guard:
        guard.watch("box", _target(dirs, 48 << 20))
        guard.settle()
        worker = spawn(SLEEP, dirs)
        hog = spawn(ALLOCATE, dirs)
        assert hog.wait(60) == -signal.SIGKILL
        assert wait_until(lambda: worker.poll() is not None, 20 * INTERVAL + 1)
    assert {e.kind for e in seen} <= {"memory", "oom_kill"} and seen


def test_ironframe_debug_prints_file_and_line_traces():
    """IRONFRAME_DEBUG=1: the C core says where and why (here: a usage file it cannot read)."""
    code = ("from ironframe_py.guard import load_core\n"
            "ffi, lib = load_core()\n"
            "t = ffi.new('ifg_target[]', 1)\n"
            "t[0].usage_fd, t[0].memory_limit = 987654, 1\n"
            "for name in ('oom_fd', 'event_fd', 'threshold_fd', 'kill_fd', 'freezer_fd', 'procs_fd'):\n"
            "    setattr(t[0], name, -1)\n"
            "events = ffi.new('struct ifg_event[]', 4)\n"
            "assert lib.ifg_sweep(t, 1, 0, events, 4) == 1 and events[0].kind == lib.IFG_EVENT_ERROR\n")
    runs = {debug: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                                  env=dict(os.environ, IRONFRAME_DEBUG=debug), timeout=60)
            for debug in ("0", "1")}
    assert all(run.returncode == 0 for run in runs.values()), runs
    assert re.search(r"guard_core\.c:\d+: target 0: usage unreadable", runs["1"].stderr)
    assert "guard_linux.c" not in runs["0"].stderr


# --- the Linux core under AddressSanitizer / LeakSanitizer ------------------------------------------

ASAN_DRIVER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "guard_core.h"

static int file(const char *dir, const char *name, const char *text, int flags)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) < 0)
        return -1;
    close(fd);
    return open(path, flags);
}

/* As root: three children become target 0's uid outside its (file) cgroup; the
 * guard, following process events, must kill exactly those three. */
static int escapees(ifg_target *targets, struct ifg_event *events)
{
    int ready[2], found = 0;
    pid_t children[3];
    struct ifg_guard *guard = ifg_new();
    if (guard == NULL || pipe(ready) != 0 || ifg_set_targets(guard, targets, 2) != 0)
        return 1;
    for (int i = 0; i < 3; i++) {
        children[i] = fork();
        if (children[i] == 0) {
            uid_t uid = targets[0].uid;
            if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0 ||
                write(ready[1], "x", 1) != 1)
                _exit(1);
            for (;;)
                pause();
        }
    }
    char byte;
    for (int i = 0; i < 3; i++)
        if (read(ready[0], &byte, 1) != 1)
            return 2;
    for (int cycle = 0; cycle < 400 && found < 3; cycle++) {
        int n = ifg_cycle(guard, targets, 2, 5, 1, events, 8);
        for (int i = 0; i < n; i++)
            found += events[i].kind == IFG_EVENT_ESCAPEE && events[i].key == 0;
    }
    for (int i = 0; i < 3; i++) {
        int status;
        if (waitpid(children[i], &status, 0) != children[i] || !WIFSIGNALED(status) ||
            WTERMSIG(status) != SIGKILL)
            return 3;
    }
    close(ready[0]);
    close(ready[1]);
    int tracked = ifg_features(guard) & IFG_FEATURE_PROC_EVENTS;
    ifg_free(guard);
    printf("ESCAPEES OK (%s)\n", tracked ? "process events" : "proc scan");
    return found == 3 ? 0 : 4;
}

int main(int argc, char **argv)
{
    ifg_target targets[2];
    struct ifg_event events[8];
    char name[4096], seen[8] = {0};
    if (argc != 2)
        return 2;
    memset(targets, 0, sizeof targets);
    for (int i = 0; i < 2; i++) {
        ifg_target *t = &targets[i];
        t->key = i;
        t->memory_limit = 1000;
        snprintf(name, sizeof name, "usage%d", i);
        t->usage_fd = file(argv[1], name, "500\n", O_RDWR);
        snprintf(name, sizeof name, "oom%d", i);
        t->oom_fd = file(argv[1], name, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", O_RDONLY);
        snprintf(name, sizeof name, "kill%d", i);
        t->kill_fd = file(argv[1], name, "", O_WRONLY);
        snprintf(name, sizeof name, "procs%d", i);
        t->procs_fd = file(argv[1], name, "1\n", O_RDONLY);
        t->event_fd = t->threshold_fd = t->freezer_fd = t->pids_fd = -1;
        t->uid = 1899777 + i;  /* nobody runs as these: the escapee scan kills nothing */
        t->armed = 1;
    }
    for (int round = 0; round < 200; round++)
        if (ifg_sweep(targets, 2, 1, events, 8) != 0)
            return 3;
    for (int round = 0; round < 20; round++) {
        struct ifg_guard *guard = ifg_new();
        if (guard == NULL || ifg_set_targets(guard, targets, 2) != 0 || ifg_wake(guard) != 0)
            return 4;
        for (int cycle = 0; cycle < 20; cycle++)
            if (ifg_cycle(guard, targets, 2, 0, 1, events, 8) < 0)
                return 5;
        ifg_free(guard);
    }
    if (geteuid() == 0 && escapees(targets, events) != 0)
        return 9;
    if (pwrite(targets[1].usage_fd, "1500\n", 5, 0) != 5 || ifg_sweep(targets, 2, 0, events, 8) != 1)
        return 6;
    if (events[0].key != 1 || events[0].kind != IFG_EVENT_MEMORY || events[0].value != 1500)
        return 7;
    snprintf(name, sizeof name, "%s/kill1", argv[1]);
    int kill = open(name, O_RDONLY);
    if (kill < 0 || read(kill, seen, sizeof seen - 1) != 1 || seen[0] != '1')
        return 8;
    close(kill);
    for (int i = 0; i < 2; i++) {
        close(targets[i].usage_fd);
        close(targets[i].oom_fd);
        close(targets[i].kill_fd);
        close(targets[i].procs_fd);
    }
    puts("ASAN-DRIVER OK");
    return 0;
}
"""


def test_core_is_clean_under_asan_and_lsan(tmp_path):
    """Repeated sweeps, guards made and freed, and a breach, with every leak and
    out-of-bounds access reported (the targets are plain files).  As root, also the
    process-event task table: three children turn into a target's uid outside it
    and must be killed."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    need(compiler is not None, "no C compiler")
    driver = tmp_path / "driver.c"
    driver.write_text(ASAN_DRIVER)
    binary = tmp_path / "driver"
    sources = [os.path.join(GUARD_DIR, name) for name in ("guard_core.c", "guard_linux.c", "guard_tasks.c")]
    subprocess.run([compiler, "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                    "-Wall", "-Wextra", "-Werror", "-I", GUARD_DIR, str(driver), *sources,
                    "-o", str(binary)], check=True, timeout=120)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:halt_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    result = subprocess.run([str(binary), str(tmp_path)], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0 and "ASAN-DRIVER OK" in result.stdout, result.stderr[-4000:]
    if os.geteuid() == 0:  # as root the driver also has the guard kill real escapees
        assert "ESCAPEES OK (process events)" in result.stdout, result.stdout


TABLE_DRIVER = r"""
/* The task table of guard_tasks.c against a plain array, under random churn. */
#include "guard_tasks.c"

int ifg_kill_target(ifg_target *target) { (void)target; return 0; }  /* guard_core.c needs it */
int64_t ifg_breach_level(const ifg_target *target) { return target->memory_limit + 1; }  /* and this */

#define TIDS 6000
static uint32_t reference[TIDS];   /* uid of each tid in the table, 0: absent */

int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : 1;
    const uint32_t watched[3] = {1900007, 1900001, 1900004};
    struct ifg_tasks *tasks = calloc(1, sizeof *tasks);
    tasks->capacity = 16;  /* small: many collisions and several growths */
    tasks->slots = calloc(tasks->capacity, sizeof *tasks->slots);
    tasks->counts = calloc(1, sizeof *tasks->counts);
    tasks->sock = -1;
    if (ifg_tasks_set_uids(tasks, watched, 3) != 0 || tasks->n_uids != 3)
        return 2;
    srand(seed);
    for (int step = 0; step < 300000; step++) {
        int32_t tid = 1 + rand() % (TIDS - 1);
        if (rand() % 3 == 0) {
            ifg_drop(tasks, tid);
            reference[tid] = 0;
        } else {
            uint32_t uid = watched[rand() % 3];
            ifg_put(tasks, tid, tid, uid);
            reference[tid] = uid;
        }
        int32_t probe = 1 + rand() % (TIDS - 1);
        struct ifg_task *found = ifg_find(tasks, probe);
        if ((found == NULL) != (reference[probe] == 0) || (found && found->uid != reference[probe]))
            return 3;
        if (step % 5000 == 0) {
            uint32_t used = 0;
            for (int32_t t = 1; t < TIDS; t++)
                used += reference[t] != 0;
            for (int u = 0; u < 3; u++) {
                int32_t expected = 0;
                for (int32_t t = 1; t < TIDS; t++)
                    expected += reference[t] == watched[u];
                if (ifg_tasks_count(tasks, watched[u]) != expected)
                    return 4;
            }
            if (used != tasks->used)
                return 5;
        }
    }
    for (int32_t t = 1; t < TIDS; t++) {
        struct ifg_task *found = ifg_find(tasks, t);
        if ((found == NULL) != (reference[t] == 0))
            return 6;
    }
    printf("TABLE OK %u slots\\n", tasks->capacity);
    ifg_tasks_close(tasks);
    return 0;
}
"""


def test_task_table_agrees_with_a_plain_array_under_random_churn(tmp_path):
    """guard_tasks.c's open-addressing table (insert, update, backward-shift delete,
    growth, per-uid counts) against a reference, under ASan/UBSan, for several seeds."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    need(compiler is not None, "no C compiler")
    driver = tmp_path / "table.c"
    driver.write_text(TABLE_DRIVER)
    binary = tmp_path / "table"
    subprocess.run([compiler, "-O1", "-g", "-fsanitize=address,undefined", "-Wall", "-Wextra", "-Werror",
                    "-Wno-unused-function", "-I", GUARD_DIR, str(driver),
                    os.path.join(GUARD_DIR, "guard_core.c"), "-o", str(binary)], check=True, timeout=120)
    for seed in ("1", "2", "3"):
        result = subprocess.run([str(binary), seed], capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, UBSAN_OPTIONS="halt_on_error=1"))
        assert result.returncode == 0 and "TABLE OK" in result.stdout, (seed, result.returncode,
                                                                        result.stderr[-3000:])


# --- the Windows core: mingw-w64 build, layout, exports, and a run under Wine --------------------------

def _cdef_functions() -> list[str]:
    from ironframe_py._guard import cdef_text

    return sorted(set(re.findall(r"\b(ifg_\w+)\(", cdef_text("win32"))))


@pytest.fixture(scope="module")
def dll() -> str:
    """ifguard.dll, built by the documented command."""
    need(shutil.which("x86_64-w64-mingw32-gcc") is not None, "mingw-w64 is not installed")
    subprocess.run(["make", "-s", "-C", GUARD_DIR, "windows"], check=True, timeout=120)
    return os.path.join(GUARD_DIR, "ifguard.dll")


def test_dll_exports_exactly_the_cdef_and_needs_only_system_dlls(dll):
    dump = subprocess.run(["x86_64-w64-mingw32-objdump", "-p", dll], capture_output=True, text=True,
                          check=True).stdout
    table = dump.split("[Ordinal/Name Pointer] Table", 1)[1].split("\n\n", 1)[0]
    assert sorted(re.findall(r"\]\s+(\w+)", table)) == _cdef_functions()
    imports = set(re.findall(r"DLL Name: (\S+)", dump))
    assert {name.lower() for name in imports} <= {"kernel32.dll", "advapi32.dll", "msvcrt.dll"}


def test_abi_mode_layout_matches_the_mingw_build(tmp_path):
    """cffi's ABI-mode layout of the cdef (what guard.py uses with the DLL) is the layout
    mingw-w64 gives the same header: every size and offset is checked by the compiler."""
    need(shutil.which("x86_64-w64-mingw32-gcc") is not None, "mingw-w64 is not installed")
    from cffi import FFI

    from ironframe_py._guard import cdef_text

    ffi = FFI()
    ffi.cdef(cdef_text("win32"))
    checks = ['#include "guard_core.h"', "#include <stddef.h>"]
    for struct in ("struct ifg_windows_target", "struct ifg_event"):
        checks.append(f"_Static_assert(sizeof({struct}) == {ffi.sizeof(struct)}, \"{struct}\");")
        for field, _ in ffi.typeof(struct).fields:
            offset = ffi.offsetof(struct, field)
            checks.append(f"_Static_assert(offsetof({struct}, {field}) == {offset}, \"{field}\");")
    source = tmp_path / "layout.c"
    source.write_text("\n".join(checks) + "\n")
    result = subprocess.run(["x86_64-w64-mingw32-gcc", "-fsyntax-only", "-I", GUARD_DIR, str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_windows_half_fills_the_windows_struct_and_keeps_what_the_loop_learnt():
    """The Windows guard_watch against the Windows cdef (ABI mode, no DLL needed): every
    field it writes exists in struct ifg_windows_target, and a new watch of the same job
    keeps the completion key and what was set on the job."""
    from cffi import FFI

    from ironframe_py._guard import cdef_text
    from ironframe_py.backends.windows.guard_target import WindowsGuardTarget
    from ironframe_py.backends.windows.guard_watch import WindowsWatched

    ffi = FFI()
    ffi.cdef(cdef_text("win32"))
    assert ffi.typeof("ifg_target") is ffi.typeof("struct ifg_windows_target")
    cells = ffi.new("ifg_target[]", 2)
    sid = bytes(range(1, 29))
    first = WindowsWatched("box", WindowsGuardTarget(job=0x1234, memory_limit=64 << 20, sid=sid, exit_code=7))
    first.fill(cells[0], 0)
    cell = cells[0]
    assert (cell.key, cell.memory_limit, cell.job, cell.exit_code, cell.armed) == (0, 64 << 20, 0x1234, 7, 1)
    assert (cell.cookie, cell.attached, cell.notified_limit) == (first.cookie, 0, -1) and cell.cookie > 0
    assert cell.sid_len == len(sid) and ffi.buffer(cell.sid)[:len(sid)] == sid
    cell.attached, cell.notified_limit, cell.usage, cell.peak = 1, 64 << 20, 5 << 20, 9 << 20
    first.save(cell)
    lowered = WindowsWatched("box", WindowsGuardTarget(job=0x1234, memory_limit=32 << 20, sid=sid))
    lowered.carry(first)
    lowered.fill(cells[1], 1)
    assert (cells[1].cookie, cells[1].attached, cells[1].notified_limit, cells[1].peak) == \
        (first.cookie, 1, 64 << 20, 9 << 20)  # the C core sees the limit changed and re-sets it
    assert cells[1].memory_limit == 32 << 20 and cells[1].sid_len == len(sid)
    other = WindowsWatched("box", WindowsGuardTarget(job=0x5678, memory_limit=None))
    other.carry(first)
    other.fill(cells[1], 1)
    assert cells[1].cookie != first.cookie and (cells[1].attached, cells[1].sid_len) == (0, 0)
    assert cells[1].memory_limit == -1


WINDOWS_PRELUDE = r'''
"""Windows side of tests/linux/test_guard_core.py, run by the Windows CPython under Wine."""
import sys
import threading
import time

from ironframe_py.backends.windows import job as jobs
from ironframe_py.backends.windows._api import kernel32 as k32
from ironframe_py.backends.windows.guard_target import WindowsGuardTarget, handle_value
from ironframe_py.guard import EXPECTED_ABI, Guard, load_core

CREATE_SUSPENDED, CREATE_NO_WINDOW, STILL_ACTIVE, EXIT = 0x4, 0x08000000, 259, 77
PY = '"' + sys.executable + '" -S -c '
ALLOCATE = (PY + '"import time; c = [(bytearray(1 << 20), time.sleep(0.002)) for _ in range(400)]; '
            'time.sleep(60)"')
HOLD_16M = PY + '"import time; x = bytearray(16 << 20); time.sleep(60)"'
SLEEP = PY + '"import time; time.sleep(60)"'
NOBODY = bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + (4242).to_bytes(4, "little") * 4  # S-1-5-21-4242-...


def start(command, job=None):
    """Suspended, into the job, resumed: nothing runs outside the job."""
    info = k32.CreateProcess(command, CREATE_SUSPENDED | CREATE_NO_WINDOW)
    try:
        if job is not None:
            job.assign(info.hProcess)
        k32.ResumeThread(info.hThread)
    finally:
        k32.CloseHandle(info.hThread)
    return info.hProcess


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.005)
    return predicate()
'''

WINDOWS_SIDE = WINDOWS_PRELUDE + r'''
def main():
    ffi, lib = load_core()
    import cffi
    assert lib.ifg_abi_version() == EXPECTED_ABI and isinstance(ffi, cffi.FFI)  # the DLL, in ABI mode
    events, holder, outsider = [], None, None
    hog_job, quiet_job = jobs.JobObject(), jobs.JobObject()
    for job in (hog_job, quiet_job):
        job.set_limits(kill_on_close=True, job_memory=50 << 20)  # Wine accepts it, does not enforce it
    try:
        with Guard(interval=0.01, on_event=events.append, escape_interval=0.05) as guard:
            holder, outsider = start(HOLD_16M, quiet_job), start(SLEEP)
            quiet = WindowsGuardTarget(handle_value(quiet_job.handle), 64 << 20,
                                       sid=NOBODY, exit_code=EXIT)
            guard.watch("quiet", quiet)
            hog = start(ALLOCATE, hog_job)
            began = time.monotonic()
            guard.watch("hog", WindowsGuardTarget(handle_value(hog_job.handle), 50 << 20,
                                                  exit_code=EXIT))
            assert k32.WaitForSingleObject(hog, 60_000) == 0, "the allocator was not stopped"
            took = time.monotonic() - began
            assert k32.GetExitCodeProcess(hog) == EXIT
            assert wait_for(lambda: any(e.key == "hog" for e in events), 10)  # delivered after the kill
            hits = [e for e in events if e.key == "hog"]
            assert hits and hits[0].kind == "memory", events
            assert 49 << 20 <= hits[0].usage < 200 << 20, hits[0]  # at the limit: within 1 MiB
            print(f"GUARD-WINE breach: killed at {hits[0].usage / 2**20:.1f} MiB, {took:.3f} s after watch")
            sweeps = guard.sweeps
            assert wait_for(lambda: guard.sweeps - sweeps >= 300, 60)
            assert k32.GetExitCodeProcess(holder) == STILL_ACTIVE, "a process under its limit was killed"
            assert k32.GetExitCodeProcess(outsider) == STILL_ACTIVE, "a stranger was taken for an escapee"
            usage, peak = guard.usage("quiet")
            assert 16 << 20 <= peak < 64 << 20, (usage, peak)
            assert [e for e in events if e.key != "hog"] == [], events
            quiet_job.terminate(1)  # the container dies under the guard: it keeps sweeping
            sweeps = guard.sweeps
            assert wait_for(lambda: guard.sweeps > sweeps + 20, 30) and guard.running
            guard.unwatch("quiet")
        assert not any(t.name.startswith("ironframe-guard") for t in threading.enumerate())
    finally:
        for process in (holder, outsider):
            if process is not None:
                k32.TerminateProcess(process, 1)
        hog_job.close()
        quiet_job.close()
    print("GUARD-WINE OK")


main()
'''


@pytest.mark.wine
def test_mingw_guard_kills_a_jobs_allocator_under_wine(dll, tmp_path):
    """Wine accepts but does not enforce job memory limits: the guard alone stops the allocator."""
    need(shutil.which("wine") is not None, "wine is not installed (apt-get install wine64)")
    script = tmp_path / "guard_wine_side.py"
    script.write_text(WINDOWS_SIDE)
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "wine_python.py"), str(script)],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    print(result.stdout[-5000:], result.stderr[-3000:])
    assert result.returncode == 0 and "GUARD-WINE OK" in result.stdout



ESCAPEE_SIDE = WINDOWS_PRELUDE + r'''
from ironframe_py.backends.windows._api import advapi32 as adv


def main():
    """Under Wine every process runs as one user: the container is given that SID, so
    everything of it outside the job is an escapee (Wine's own services too)."""
    token = adv.OpenProcessToken(k32.GetCurrentProcess(), 0x8)  # TOKEN_QUERY
    me = adv.token_user_sid(token)
    k32.CloseHandle(token)
    job = jobs.JobObject()
    job.set_limits(kill_on_close=True)
    events, inside, outsider, late = [], None, None, None
    try:
        inside = start(SLEEP, job)
        with Guard(interval=0.01, on_event=events.append, escape_interval=0.05) as guard:
            guard.watch("c", WindowsGuardTarget(handle_value(job.handle), None, sid=me,
                                                exit_code=EXIT))
            began = time.monotonic()
            outsider = start(SLEEP)
            outsider_pid = k32.GetProcessId(outsider)
            # As the launcher does: created suspended outside the job, assigned a moment
            # later.  The guard's grace for young processes must let it join.
            info = k32.CreateProcess(SLEEP, CREATE_SUSPENDED | CREATE_NO_WINDOW)
            late = info.hProcess
            time.sleep(0.3)
            job.assign(late)
            k32.ResumeThread(info.hThread)
            k32.CloseHandle(info.hThread)
            assert k32.WaitForSingleObject(outsider, 30_000) == 0, "the escapee was not killed"
            took = time.monotonic() - began
            assert k32.GetExitCodeProcess(outsider) == EXIT
            assert took >= 0.9, f"killed after {took:.3f} s, inside the 1 s grace for young processes"
            assert wait_for(lambda: any(e.pid == outsider_pid for e in events), 10), events
            hit = next(e for e in events if e.pid == outsider_pid)
            assert (hit.key, hit.kind) == ("c", "escapee"), hit
            sweeps = guard.sweeps
            assert wait_for(lambda: guard.sweeps - sweeps >= 100, 30)
            assert k32.GetExitCodeProcess(inside) == STILL_ACTIVE, "a process in the job was killed"
            assert k32.GetExitCodeProcess(late) == STILL_ACTIVE, "a process joining the job was killed"
            print(f"GUARD-WINE escapee killed {took:.3f} s after it started; "
                  f"{len(events)} escapees in all (Wine's own services run as the same user)")
    finally:
        for process in (inside, outsider, late):
            if process is not None:
                k32.TerminateProcess(process, 1)
        job.close()
    print("GUARD-WINE ESCAPEES OK")


main()
'''


@pytest.mark.wine
def test_mingw_guard_kills_escapees_by_sid_under_wine(dll, tmp_path):
    """The Windows escapee sweep for real: snapshot, token SID, IsProcessInJob, the grace
    for processes on their way into the job, TerminateProcess.  Run in a throwaway
    Wine prefix, because the sweep also kills that prefix's own service processes."""
    need(shutil.which("wine") is not None, "wine is not installed (apt-get install wine64)")
    script = tmp_path / "escapee_side.py"
    script.write_text(ESCAPEE_SIDE)
    prefix = tmp_path / "prefix"
    env = dict(os.environ, IRONFRAME_WINEPREFIX=str(prefix))
    try:
        result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "wine_python.py"), str(script)],
                                capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    finally:
        subprocess.run(["wineserver", "-k"], env=dict(env, WINEPREFIX=str(prefix)), timeout=60)
    print(result.stdout[-5000:], result.stderr[-3000:])
    assert result.returncode == 0 and "GUARD-WINE ESCAPEES OK" in result.stdout
