"""Latency of a whole container lifecycle against baselines measured in the same run.

One iteration = create (memory, processes and CPU limits; no disk limit) +
run ``/bin/true`` + wait + destroy.  Baselines: plain
``subprocess.run(['/bin/true'])``, ``bwrap --unshare-all --ro-bind / / /bin/true``
and ``crun run`` of a bundle whose root is ``/`` (each where installed).
Reports medians and the ratio of each to plain subprocess.  Needs root.

    python benchmarks/bench_lifecycle.py [--runs N] [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable

from _common import measure, parse_args, print_ratios, scratch_root

from ironframe_py import ContainerService, ContainerSpec, Limits  # noqa: E402


def ironframe_lifecycle(service: ContainerService) -> Callable[[], None]:
    """create + run /bin/true + wait + destroy."""
    spec = ContainerSpec(limits=Limits(memory="64M", processes=16, cpu_weight=100, cpu_max=1.0))

    def once() -> None:
        box = service.create(spec)
        try:
            status = box.run(["/bin/true"]).wait(30)
            assert status == 0, status
        finally:
            box.destroy()
    return once


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
    root = scratch_root()
    bundle = tempfile.mkdtemp(prefix="ironframe-bench-crun-")
    results: dict[str, list[float]] = {}
    try:
        results["subprocess.run /bin/true"] = measure(subprocess_true, runs)
        with ContainerService(root, guard_interval=None) as service:
            results["ironframe create+run+destroy"] = measure(ironframe_lifecycle(service), runs)
        with ContainerService(root, guard_interval=0.1) as service:
            results["  ... with the guard running"] = measure(ironframe_lifecycle(service), runs)
        if shutil.which("bwrap"):
            results["bwrap --unshare-all /bin/true"] = measure(bwrap_true, runs)
        crun = crun_bundle(bundle)
        if crun is not None:
            results["crun run /bin/true"] = measure(crun, runs)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.rmtree(root)
    print_ratios(results, "subprocess.run /bin/true", f"{runs} runs", digits=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
