"""Shared helpers of the benchmark suite: paths, timed subprocesses, statistics, tables, the machine."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
SCRIPTS = Path(__file__).resolve().parent
TIMEOUT_S = 1200.0
# Variables that change how the frameworks' thread pools behave; recorded when set.
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
)


class BenchError(RuntimeError):
    """A benchmarked command failed: the section reports it and the suite goes on."""


@dataclass
class Timed:
    seconds: float
    stdout: str
    other_cores: float  # cores kept busy by other processes meanwhile (machine noise), on average


def lstmcli() -> list[str]:
    """The lstmcli of this interpreter's environment (the venv's console script)."""
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "lstmcli"]


def quiet_env() -> dict[str, str]:
    """The environment of every subprocess: TensorFlow's C++ logging off, no colours."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"}


def run_timed(cmd: Sequence[str]) -> Timed:
    """Run `cmd` from the repository root; wall time from launch to exit. Raises BenchError on failure."""
    busy0, child0 = machine_busy_seconds(), children_cpu_seconds()
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, cwd=ROOT, env=quiet_env(), timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{shown(cmd)}: no exit after {TIMEOUT_S:.0f} s") from None
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise BenchError(f"{shown(cmd)} exited {done.returncode}:\n{tail}")
    others = (machine_busy_seconds() - busy0) - (children_cpu_seconds() - child0)
    return Timed(seconds, done.stdout, max(0.0, others) / seconds)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, /proc/stat; steal counts as busy)."""
    try:
        first = Path("/proc/stat").read_text(encoding="utf-8").split("\n", 1)[0]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first.split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


QUIET_CORES = 0.25  # a run is "quiet" when other processes kept fewer cores than this busy


def quiet_ratio(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]], key: str) -> tuple[float | None, int]:
    """Median of a/b over the pairs of runs where both sides ran quiet, and how many such pairs."""
    quiet = [a[key] / b[key] for a, b in pairs if max(a["other_cores"], b["other_cores"]) < QUIET_CORES]
    return (round(median(quiet), 3) if quiet else None), len(quiet)


def noise_note(other_cores: Sequence[float]) -> str:
    """One line saying how busy the rest of the machine was while a section measured."""
    if not other_cores:
        return ""
    return (
        f"  machine noise: other processes kept {median(other_cores):.2f} of {os.cpu_count()} cores busy "
        f"(median over the runs; max {max(other_cores):.2f})"
    )


def time_once(cmd: Sequence[str]) -> float:
    return run_timed(cmd).seconds


def shown(cmd: Sequence[str]) -> str:
    """A command as a reader would type it: the interpreter and scripts by their short names."""
    venv_bin = Path(sys.executable).parent
    return " ".join(Path(w).name if Path(w).parent == venv_bin else w for w in cmd)


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries the tables only."""
    print(message, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float:
    """(max − min) / median: how far apart the repeats landed (0 for a single repeat)."""
    return (max(values) - min(values)) / median(values) if len(values) > 1 else 0.0


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title, line(list(headers)), rule] + [line(r) for r in cells])


# ---------------------------------------------------------------- the machine


def cpu_model() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return ""


def cpu_flags() -> set[str]:
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_revision() -> str | None:
    """HEAD of the repository, `+dirty` when lstmcli/ has uncommitted changes (what was measured)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "lstmcli"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return None
    return (head + ("+dirty" if dirty else "")) or None


def machine() -> dict[str, Any]:
    """What the numbers were measured on; versions from package metadata (nothing heavy imported)."""
    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "isa": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags],
        "virtualised": "hypervisor" in flags,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("lstmcli", "numpy", "tensorflow", "keras", "torch")},
        "git": git_revision(),
        "thread_env": {k: os.environ.get(k) for k in THREAD_ENV if k in os.environ},
    }


def machine_lines(info: dict[str, Any]) -> list[str]:
    v = info["versions"]
    return [
        f"machine: {info['cpu']} · {info['cores']} cores · {', '.join(info['isa'])}"
        + (" · virtualised" if info["virtualised"] else ""),
        f"load average at start: {' '.join(str(x) for x in info['load_average'])}"
        + "".join(f" · {k}={v}" for k, v in info["thread_env"].items()),
        f"python {info['python']} · numpy {v['numpy']} · tensorflow {v['tensorflow']} · keras {v['keras']}"
        f" · torch {v['torch'] or 'not installed'} · lstmcli {v['lstmcli']} ({info['git']})",
    ]
