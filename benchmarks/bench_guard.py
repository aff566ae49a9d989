"""The guard: sweep cost, reaction time and idle CPU, each against a baseline in the same run.

1. One sweep over 100 containers x 10 processes -- memory and OOM counters
   of every container, and every escapee -- in pure Python with psutil (a
   /proc scan), and in C two ways: the full /proc scan (``ifg_sweep``, the
   fallback) and the guard's own cycle (``ifg_cycle``), which finds
   escapees from the kernel's process events.  Medians and ratios; C is
   timed right after a psutil sweep (cold CPU caches) and back to back
   (warm).
2. Reaction time from a process crossing its memory limit to the container
   being dead: polling (a guard-only limit, 10 ms interval) and event-driven
   (the kernel OOM-kills one process; the OOM eventfd wakes the guard, which
   kills the rest; polling set to 1 s so only the event can be fast).
3. CPU used by the guard thread watching 100 idle containers at 10 ms.

Needs root.  ``python benchmarks/bench_guard.py [--quick]``
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import statistics
import time

import psutil  # noqa: E402
from _common import parse_args, scratch_root

from ironframe_py import PIPE, ContainerService, ContainerSpec, Limits  # noqa: E402
from ironframe_py.backends.linux.guard_target import target_for  # noqa: E402
from ironframe_py.backends.linux.guard_watch import LinuxWatched  # noqa: E402
from ironframe_py.guard import MAX_EVENTS, Guard, load_core  # noqa: E402

PY = "/usr/bin/python3"
# Allocates to just under its target, says "ready", waits for a byte on stdin,
# then takes 12 MiB more at once and prints when it has crossed (if still alive).
STEP = """
import os, sys, time
keep = [bytearray(1 << 20) for _ in range(int(sys.argv[1]))]
print("ready", flush=True)
sys.stdin.buffer.read(1)
keep.append(bytearray(12 << 20))
print(time.time(), flush=True)
time.sleep(300)
"""


def _median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:8.3f} ms"


# --- 1. sweep cost -------------------------------------------------------------------------

def python_sweep(targets: list) -> list:
    """The guard's work in pure Python: what a psutil-based guard would do per sweep.

    Returns what it would act on: containers over their limit and escapees.
    """
    found = []
    for target in targets:
        with open(target.usage_path) as file:
            if int(file.read()) > (target.memory_limit or 1 << 62):
                found.append(("memory", target.uid))
        with open(target.oom_path) as file:
            file.read()
    members = {}
    for target in targets:
        with open(target.procs_path) as file:
            members[target.uid] = {int(line) for line in file}
    for proc in psutil.process_iter(["uids", "status"]):
        uids = proc.info["uids"]  # real, effective, saved: the guard's definition (less fs)
        owner = next((uid for uid in uids if uid in members), None) if uids is not None else None
        if (owner is not None and proc.pid not in members[owner]
                and proc.info["status"] != psutil.STATUS_ZOMBIE):
            found.append(("escapee", proc.pid))
    return found


@contextlib.contextmanager
def containers(service: ContainerService, count: int, sleepers: int):
    """``count`` containers with ``sleepers`` sleeping processes each, destroyed afterwards."""
    boxes = [service.create(ContainerSpec(limits=Limits(memory="64M"))) for _ in range(count)]
    try:
        for box in boxes:
            for _ in range(sleepers):
                box.run(["/bin/sleep", "600"])
        yield boxes
    finally:
        for box in boxes:
            box.destroy()


def bench_sweep(service: ContainerService, runs: int) -> None:
    with containers(service, 100, 10) as boxes:
        _sweep_boxes(boxes, runs)


def _sweep_boxes(boxes: list, runs: int) -> None:
    ffi, lib = load_core()
    targets = [target_for(box._live.ctx, box._live.view) for box in boxes]
    watched = [LinuxWatched(str(i), t) for i, t in enumerate(targets)]
    cells = ffi.new("ifg_target[]", len(watched))
    for index, item in enumerate(watched):
        item.fill(cells[index], index)
    events = ffi.new("struct ifg_event[]", MAX_EVENTS)
    core = lib.ifg_new()
    assert lib.ifg_set_targets(core, cells, len(watched)) == 0
    tracked = bool(lib.ifg_features(core) & lib.IFG_FEATURE_PROC_EVENTS)
    assert lib.ifg_cycle(core, cells, len(watched), 0, 1, events, MAX_EVENTS) == 0  # builds the table

    def full_scan() -> int:
        return lib.ifg_sweep(cells, len(watched), 1, events, MAX_EVENTS)

    def guard_cycle() -> int:
        return lib.ifg_cycle(core, cells, len(watched), 0, 1, events, MAX_EVENTS)

    times: dict[str, list[float]] = {name: [] for name in ("scan cold", "scan warm", "cycle cold",
                                                          "cycle warm", "python")}
    for _ in range(runs):
        # Right after the psutil sweep, the CPU caches hold Python's working set
        # ("cold"); then a few sweeps back to back, as the guard's loop runs ("warm").
        for fn, cold, warm in ((full_scan, "scan cold", "scan warm"),
                               (guard_cycle, "cycle cold", "cycle warm")):
            for series in (cold, warm, warm, warm):
                start = time.perf_counter()
                count = fn()
                times[series].append(time.perf_counter() - start)
                assert count == 0, count
            start = time.perf_counter()
            found = python_sweep(targets)
            assert found == [], found
            times["python"].append(time.perf_counter() - start)
    lib.ifg_free(core)
    for item in watched:
        item.close()
    py_median = statistics.median(times["python"])

    def row(label: str, series: str, note: str = "") -> None:
        ratio = py_median / statistics.median(times[series])
        print(f"  {label:<44} {_median_ms(times[series])}  {ratio:6.1f}x{note}")

    print(f"sweep, 100 containers x 10 processes ({len(psutil.pids())} processes on the host): "
          "memory and OOM counters of all, and every escapee")
    print(f"  {'pure Python + psutil (/proc scan)':<44} {_median_ms(times['python'])}")
    row("C, full /proc scan (ifg_sweep), warm", "scan warm")
    row("C, full /proc scan, cold caches", "scan cold")
    how = "process events" if tracked else "NO process events: /proc scan"
    row(f"C, guard cycle ({how}), warm", "cycle warm")
    row("C, guard cycle, cold caches", "cycle cold", "   target >= 20x")
    print(f"  C, guard cycle, mean (with the rescan every 40th and cold) "
          f"{statistics.mean(times['cycle cold'] + times['cycle warm']) * 1e3:.3f} ms")


# --- 2. reaction time ------------------------------------------------------------------------

def _crossing(box, below_mib: int) -> tuple[float, object]:
    """Start the stepping allocator and make it cross its limit; return (when it crossed, it).

    If it was killed before it could print, the moment it was told to go is
    used: an upper bound on the reaction that follows.
    """
    proc = box.run([PY, "-S", "-c", STEP, str(below_mib)], stdin=PIPE, stdout=PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    go = time.time()
    proc.stdin.write(b"x")
    crossed_line = proc.stdout.readline().strip()  # EOF when the kernel killed it first
    return (float(crossed_line) if crossed_line else go), proc


def bench_reaction(runs: int) -> None:
    root = scratch_root()
    try:
        polling: list[float] = []
        with ContainerService(root, guard_interval=None) as service, \
                Guard(interval=0.01, on_event=lambda event: None) as guard:
            for _ in range(runs):
                with service.create(ContainerSpec(limits=Limits(memory="512M"))) as box:
                    # a guard-only limit, with no kernel threshold: pure polling
                    target = dataclasses.replace(target_for(box._live.ctx, box._live.view),
                                                 memory_limit=64 << 20, event_control_path=None)
                    guard.watch(box.handle, target)
                    guard.wait_applied()
                    sleeper = box.run(["/bin/sleep", "600"])
                    crossed, _ = _crossing(box, 50)
                    sleeper.wait(30)
                    polling.append(time.time() - crossed)
                    guard.unwatch(box.handle)
        event: list[float] = []
        with ContainerService(root, guard_interval=1.0) as service:
            for _ in range(runs):
                with service.create(ContainerSpec(limits=Limits(memory="64M"))) as box:
                    service._guard.guard.settle()  # the kernel thresholds are in place
                    sleeper = box.run(["/bin/sleep", "600"])
                    _, hog = _crossing(box, 50)  # the kernel OOM-kills the allocator...
                    hog.wait(30)
                    oom_killed = time.time()
                    sleeper.wait(30)  # ...and the guard, woken by the kernel, the rest
                    event.append(time.time() - oom_killed)
        print("reaction: limit crossed -> container dead (medians)")
        print(f"  polling, 10 ms interval (guard-only limit)  {_median_ms(polling)}"
              f"   target < 15 ms")
        print(f"  event-driven, 1 s interval (kernel OOM kill -> rest dead) {_median_ms(event)}"
              f"   target < 5 ms")
    finally:
        shutil.rmtree(root)


# --- 3. idle CPU -----------------------------------------------------------------------------------

def _thread_cpu(thread) -> float:
    """CPU seconds used by ``thread`` so far (its own CPU clock: nanosecond resolution)."""
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def bench_idle_cpu(service: ContainerService, seconds: float) -> None:
    with containers(service, 100, 1) as boxes:
        _idle(boxes, seconds)


def _idle(boxes: list, seconds: float) -> None:
    guard = Guard(interval=0.01)
    for box in boxes:
        guard.watch(box.handle, target_for(box._live.ctx, box._live.view))
    with guard:
        guard.settle()  # kernel thresholds registered: measure the steady state
        thread = guard._thread
        cpu0, wall0, sweeps0 = _thread_cpu(thread), time.monotonic(), guard.sweeps
        time.sleep(seconds)
        cpu, wall, sweeps = _thread_cpu(thread) - cpu0, time.monotonic() - wall0, guard.sweeps - sweeps0
    print(f"idle CPU, 100 containers at 10 ms: {cpu / wall * 100:5.2f}% of one core "
          f"({sweeps / wall:.0f} sweeps/s, escapee scan every {guard.escape_interval}s)"
          "   target < 2%")


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements."""
    args = parse_args(argv, __doc__, default=50, quick=5)
    if args is None:
        return 2
    runs = args.runs
    root = scratch_root()
    try:
        with ContainerService(root, guard_interval=None) as service:
            # idle first: right after 1000 processes and 100 memory cgroups are torn
            # down, the kernel's background cleanup slows every cgroup read for a while
            bench_idle_cpu(service, 1.0 if args.quick else 5.0)
            bench_sweep(service, runs)
    finally:
        shutil.rmtree(root)
    bench_reaction(3 if args.quick else 15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
