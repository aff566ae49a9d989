"""Latency of a whole container lifecycle against baselines measured in the same run.

One iteration = create (memory, processes and CPU limits; no disk limit) +
run ``/bin/true`` + wait + destroy, with the container's own mount, IPC,
UTS and network namespaces (the default), with ``network="host"``, and with
no namespaces at all (the plan before issue 9, for comparison).  Also the
per-process cost: ``/bin/true`` run in a live container (``setns`` into
its namespaces each time).  Baselines: plain ``subprocess.run(['/bin/true'])``,
``bwrap --unshare-all --ro-bind / / /bin/true`` and ``crun run`` of a bundle
whose root is ``/`` (each where installed).  The cases are interleaved --
one call of each in turn, ``runs`` times -- so that load from elsewhere on
the host hits them alike.  Reports medians and the ratio of each to plain
subprocess.  Needs root.

    python benchmarks/bench_lifecycle.py [--runs N] [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from _common import parse_args, print_ratios, scratch_root

from ironframe_py import ContainerService, ContainerSpec, Limits  # noqa: E402
from ironframe_py.backends.linux.backend import LinuxBackend  # noqa: E402

LIMITS = Limits(memory="64M", processes=16, cpu_weight=100, cpu_max=1.0)


class NoNamespacesBackend(LinuxBackend):
    """The Linux backend without its namespace steps: the lifecycle as it was before them."""

    def plan(self, ctx):  # type: ignore[no-untyped-def]
        return [step for step in super().plan(ctx) if not step.name.startswith("namespace")]


def ironframe_lifecycle(service: ContainerService, network: str | None = None) -> Callable[[], None]:
    """create + run /bin/true + wait + destroy."""
    spec = ContainerSpec(limits=LIMITS, network=network)

    def once() -> None:
        box = service.create(spec)
        try:
            status = box.run(["/bin/true"]).wait(30)
            assert status == 0, status
        finally:
            box.destroy()
    return once


def run_in(box) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    """/bin/true started in the live container ``box`` and waited for."""
    def once() -> None:
        status = box.run(["/bin/true"]).wait(30)
        assert status == 0, status
    return once


def interleaved(cases: dict[str, Callable[[], None]], runs: int, warmup: int = 3) -> dict[str, list[float]]:
    """Wall times of ``runs`` rounds, each calling every case once, in turn."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def subprocess_true() -> None:
    """The floor: fork/exec/wait of /bin/true."""
    subprocess.run(["/bin/true"], check=True)


def bwrap_true() -> None:
    """bubblewrap with every namespace unshared."""
    subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "/bin/true"], check=True)


def crun_bundle(workdir: str) -> Callable[[], None] | None:
    """A crun bundle running /bin/true with / as its read-only root, or None if crun is absent."""
    if not shutil.which("crun"):
        return None
    subprocess.run(["crun", "spec"], cwd=workdir, check=True, capture_output=True)
    path = os.path.join(workdir, "config.json")
    with open(path) as file:
        config = json.load(file)
    config["root"] = {"path": "/", "readonly": True}
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    with open(path, "w") as file:
        json.dump(config, file)
    counter = iter(range(1 << 30))

    def once() -> None:
        subprocess.run(["crun", "run", "-b", workdir, f"ifbench{os.getpid()}-{next(counter)}"],
                       check=True, capture_output=True)
    try:
        once()
    except subprocess.CalledProcessError as err:
        print(f"crun baseline unavailable here: {err.stderr.decode().strip()[:200]}", file=sys.stderr)
        return None
    return once


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table of medians and ratios."""
    args = parse_args(argv, __doc__, default=300, quick=20)
    if args is None:
        return 2
    runs = args.runs
    root, plain_root = scratch_root(), scratch_root()
    bundle = tempfile.mkdtemp(prefix="ironframe-bench-crun-")
    try:
        # uids of their own: other services on this host may be using the default range
        with ContainerService(root, guard_interval=None, uid_range=range(1_960_000, 1_961_000)) \
                as service, \
                ContainerService(plain_root, guard_interval=None, backend=NoNamespacesBackend(plain_root),
                                 uid_range=range(1_961_000, 1_962_000)) as plain:
            live = service.create(ContainerSpec(limits=LIMITS))
            live_plain = plain.create(ContainerSpec(limits=LIMITS))
            try:
                cases: dict[str, Callable[[], None]] = {
                    "subprocess.run /bin/true": subprocess_true,
                    "ironframe run in a live container": run_in(live),
                    "  ... no namespaces (run)": run_in(live_plain),
                    "ironframe create+run+destroy": ironframe_lifecycle(service),
                    "  ... network=host": ironframe_lifecycle(service, "host"),
                    "  ... no namespaces (lifecycle)": ironframe_lifecycle(plain),
                }
                if shutil.which("bwrap"):
                    cases["bwrap --unshare-all /bin/true"] = bwrap_true
                crun = crun_bundle(bundle)
                if crun is not None:
                    cases["crun run /bin/true"] = crun
                results = interleaved(cases, runs)
            finally:
                live.destroy()
                live_plain.destroy()
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.rmtree(root)
        shutil.rmtree(plain_root)
    print_ratios(results, "subprocess.run /bin/true", f"{runs} interleaved runs", digits=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
