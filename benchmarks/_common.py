"""Small shared helpers for benchmarks: timing, machine/commit description, JSON output.

Usage in a benchmark script::

    from _common import BenchmarkReport, median_time, standard_parser
    args = standard_parser(__doc__).parse_args()
    report = BenchmarkReport("kernels")
    report.add("hashgrid_fwd_mpts_s", 8.1, "hash grid forward")
    report.finish(args.json)

Figures follow docs/benchmarks.md: metric names carry their unit, speed figures are medians of
several runs after a warm-up, and baselines are measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

# The OpenMP wait settings `import redrive` makes (docs/recon.md) must be in place before torch
# loads, as they are for the CLI: every benchmark imports this module before torch. Benchmarks
# assume an idle machine, so they take its setting (the spin) whatever runs at this moment.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")
import redrive  # noqa: E402,F401

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(os.environ.get("REDRIVE_BENCH_DIR", REPO / "out" / "bench"))
"""Where benchmarks keep what they generate or train (``$REDRIVE_BENCH_DIR``, default ``out/bench``)."""
DEFAULT_RUN = BENCH_DIR / "recon_quality" / "run"
"""The default-preset run of the default synthetic log that ``recon_quality.py`` leaves behind;
the rendering and editing benchmarks use it when it exists."""

__all__ = ["REPO", "BENCH_DIR", "DEFAULT_RUN", "BenchmarkReport", "meets", "median_time", "median_cpu_time", "paired_median_times", "standard_parser",
           "machine_info", "git_commit", "peak_rss_bytes", "write_report"]


def _median(fn: Callable[[], object], clock: Callable[[], float], repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def meets(value: float, op: str, target: float) -> bool:
    """Whether ``value`` meets a target ``op`` (">=" or "<=") ``target``."""
    return value >= target if op == ">=" else value <= target


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls after ``warmup`` calls."""
    return _median(fn, time.perf_counter, repeats, warmup)


def median_cpu_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median process CPU time (all threads) of ``fn()`` in seconds.

    On a shared machine wall time includes the time our threads spent descheduled; CPU time
    divided by the thread count is what the run would take on cores of its own (an estimate:
    it assumes the threads would have overlapped perfectly)."""
    return _median(fn, time.process_time, repeats, warmup)


def paired_median_times(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median wall times of several functions measured in alternation (a, b, a, b, ...).

    On a noisy machine this makes a ratio between them fair: each sees the same stretches of
    contention, rather than one being timed in a quiet minute and the other in a busy one."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(max(1, repeats)):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def standard_parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (smoke run)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    return parser


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ""
    try:
        load = f", load {os.getloadavg()[0]:.1f}"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cpus{load}"


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_report(json_path: Path | None, name: str, figures: dict[str, float]) -> dict:
    """The benchmark's JSON object ``{"benchmark", "commit", "machine", "figures"}``; written
    atomically to ``json_path`` unless it is None. For scripts that print their own table."""
    doc = {"benchmark": name, "commit": git_commit(), "machine": machine_info(), "figures": figures}
    if json_path is not None:
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_path.with_name(f".{json_path.name}.tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, json_path)
    return doc


class BenchmarkReport:
    """Collects figures, prints them as a table and optionally writes the JSON object."""

    def __init__(self, name: str):
        self.name = name
        self.figures: dict[str, float] = {}
        self._labels: dict[str, str] = {}
        self.started = time.perf_counter()

    def add(self, metric: str, value: float, label: str = "") -> float:
        self.figures[metric] = float(value)
        self._labels[metric] = label
        print(f"  {label or metric:<58} {value:>10.3f}  [{metric}]", flush=True)
        return value

    def section(self, title: str) -> None:
        print(f"\n{title}", flush=True)

    def print_targets(self, targets: dict[str, tuple[str, float]]) -> None:
        """A "targets" section: each ``metric: (">=" or "<=", target)`` with met / MISSED."""
        self.section("targets")
        for k, (op, target) in targets.items():
            v = self.figures[k]
            print(f"  {k:<28} {v:8.3f} {op} {target:<6} {'met' if meets(v, op, target) else 'MISSED'}")

    def finish(self, json_path: Path | None) -> dict:
        self.figures.setdefault("wall_s", time.perf_counter() - self.started)
        doc = write_report(json_path, self.name, self.figures)
        if json_path is not None:
            print(f"\nwrote {json_path}")
        return doc
