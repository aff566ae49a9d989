"""What every benchmark here shares: arguments, timing, a scratch root, the ratio table."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def parse_args(argv: list[str] | None, doc: str, default: int, quick: int) -> argparse.Namespace | None:
    """``--runs N`` / ``--quick`` -> ``args.runs`` (``quick`` of them with ``--quick``) and
    ``args.quick``; None, after saying why, unless run as root."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=default)
    parser.add_argument("--quick", action="store_true", help=f"{quick} runs: a smoke test, not a figure")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(f"{os.path.basename(sys.argv[0])}: needs root", file=sys.stderr)
        return None
    if args.quick:
        args.runs = quick
    return args


def measure(fn: Callable[[], None], runs: int, warmup: int = 5) -> list[float]:
    """Wall times in seconds of ``runs`` calls after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def scratch_root() -> str:
    """A fresh service root that container users can traverse (0711)."""
    root = tempfile.mkdtemp(prefix="ironframe-bench-", dir="/tmp")
    os.chmod(root, 0o711)
    return root


def print_ratios(results: dict[str, list[float]], base: str, note: str, digits: int = 2) -> None:
    """One row per case: median, 90th percentile, and the median's ratio to ``base``'s."""
    width = max(len(name) for name in results) + 2
    base_median = statistics.median(results[base])
    print(f"{'case':<{width}} {'median':>10} {'p90':>10} {'x ' + base.split()[0]:>16}   ({note})")
    for name, times in results.items():
        ordered = sorted(times)
        median = statistics.median(ordered)
        p90 = ordered[int(len(ordered) * 0.9) - 1]
        print(f"{name:<{width}} {median * 1e3:>8.{digits + 1}f}ms {p90 * 1e3:>8.{digits + 1}f}ms "
              f"{median / base_median:>15.{digits}f}x")
