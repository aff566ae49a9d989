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

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ironframe_py.backends.linux import launch  # noqa: E402

UID = GID = 1_899_201
PR_SET_NO_NEW_PRIVS = 38
HIERARCHIES = (("/sys/fs/cgroup/pids", "pids"), ("/sys/fs/cgroup/unified", ""))


def measure(fn: Callable[[], None], runs: int, warmup: int = 10) -> list[float]:
    """Wall times in seconds of ``runs`` calls after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="30 runs: a smoke test, not a figure")
    args = parser.parse_args(argv)
    runs = 30 if args.quick else args.runs
    if os.geteuid() != 0:
        print("bench_spawn: needs root", file=sys.stderr)
        return 2
    cgroups = make_cgroups()
    try:
        procs = [os.path.join(path, "cgroup.procs") for path in cgroups]
        results = {
            "subprocess.run /bin/true": measure(subprocess_true, runs),
            "launch.spawn (uid, cgroups) + wait": measure(ours(procs), runs),
            "subprocess.run + preexec_fn (same)": measure(preexec(procs), runs),
        }
    finally:
        for path in reversed(cgroups):
            os.rmdir(path)
    base = statistics.median(results["subprocess.run /bin/true"])
    print(f"{'case':<36} {'median':>10} {'p90':>10} {'x subprocess':>13}   ({runs} runs, "
          f"{len(cgroups)} cgroups)")
    for name, times in results.items():
        times.sort()
        median = statistics.median(times)
        p90 = times[int(len(times) * 0.9) - 1]
        print(f"{name:<36} {median * 1e3:>8.3f}ms {p90 * 1e3:>8.3f}ms {median / base:>12.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
