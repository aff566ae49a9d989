"""Run every benchmark in this folder (``bench_*.py``), passing the arguments through.

    python benchmarks/run_all.py [--quick]

Each benchmark prints medians and ratios against baselines measured in the
same run.  Exit status: non-zero if any benchmark failed to run.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    """Run each bench_*.py with ``argv``; report failures."""
    here = os.path.dirname(os.path.abspath(__file__))
    failed = []
    # The lifecycle first: the guard benchmark tears down 1,000 processes and 100
    # memory cgroups, and the kernel's cleanup of those slows cgroup work for a while.
    paths = sorted(glob.glob(os.path.join(here, "bench_*.py")),
                   key=lambda path: (not path.endswith("bench_lifecycle.py"), path))
    for path in paths:
        name = os.path.basename(path)
        print(f"== {name} {' '.join(argv)}", flush=True)
        if subprocess.run([sys.executable, path, *argv]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
