"""Latency of the C spawn helper against subprocess, measured in the same run.

One iteration = start ``/bin/true`` and wait for it.  Cases:

* ``subprocess.run(['/bin/true'])`` -- the floor (no identity change, no cgroup);
* ``launch.spawn`` -- ours: as a non-root uid/gid, no supplementary groups,
  no_new_privs, a new session, into a v1 pids cgroup and a cgroup2 directory;
* ``subprocess.run`` with a ``preexec_fn`` doing the same cgroup joins,
  ``setsid``, ``setgroups``/``setresgid``/``setresuid`` and no_new_privs --
  what a pure-Python implementation would do.

Reports medians, p90 and the ratio of each to plain subprocess.  Needs root.
The cgroups are made under this process's own cgroup and removed at exit.

    python benchmarks/bench_spawn.py [--runs N] [--quick]
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Callable

from _common import measure, parse_args, print_ratios

from ironframe_py.backends.linux import launch  # noqa: E402

UID = GID = 1_899_201
PR_SET_NO_NEW_PRIVS = 38
HIERARCHIES = (("/sys/fs/cgroup/pids", "pids"), ("/sys/fs/cgroup/unified", ""))


def _own_cgroup(mount: str, hierarchy: str) -> str:
    with open("/proc/self/cgroup") as file:
        for line in file:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if (hierarchy in controllers.split(",")) if hierarchy else controllers == "":
                return os.path.join(mount + path.rstrip("/"), f"ironframe-bench-spawn-{os.getpid()}")
    raise LookupError(hierarchy)


def make_cgroups() -> list[str]:
    """One throwaway cgroup per available hierarchy (the caller removes them)."""
    made = []
    for mount, hierarchy in HIERARCHIES:
        if os.path.isdir(mount):
            path = _own_cgroup(mount, hierarchy)
            os.mkdir(path)
            made.append(path)
    return made


def ours(procs: list[str]) -> Callable[[], None]:
    """launch.spawn + wait."""
    def once() -> None:
        proc = launch.spawn("/bin/true", ["/bin/true"], {"PATH": launch.DEFAULT_PATH}, "/",
                            UID, GID, procs, (0, 1, 2))
        status = proc.wait(None)
        proc.close()
        assert status == 0, status
    return once


def subprocess_true() -> None:
    """The floor: fork/exec/wait of /bin/true."""
    subprocess.run(["/bin/true"], check=True)


def preexec(procs: list[str]) -> Callable[[], None]:
    """subprocess.run with the same work done in a preexec_fn."""
    libc = ctypes.CDLL(None, use_errno=True)

    def child() -> None:
        for path in procs:
            with open(path, "w") as file:
                file.write("0")
        os.setsid()
        os.setgroups([])
        os.setresgid(GID, GID, GID)
        os.setresuid(UID, UID, UID)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

    def once() -> None:
        subprocess.run(["/bin/true"], check=True, preexec_fn=child, env={"PATH": launch.DEFAULT_PATH},
                       cwd="/")
    return once


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table of medians and ratios."""
    args = parse_args(argv, __doc__, default=500, quick=30)
    if args is None:
        return 2
    runs = args.runs
    cgroups = make_cgroups()
    try:
        procs = [os.path.join(path, "cgroup.procs") for path in cgroups]
        results = {
            "subprocess.run /bin/true": measure(subprocess_true, runs, warmup=10),
            "launch.spawn (uid, cgroups) + wait": measure(ours(procs), runs, warmup=10),
            "subprocess.run + preexec_fn (same)": measure(preexec(procs), runs, warmup=10),
        }
    finally:
        for path in reversed(cgroups):
            os.rmdir(path)
    print_ratios(results, "subprocess.run /bin/true", f"{runs} runs, {len(cgroups)} cgroups")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
