"""The lstmcli benchmark suite in one command: tables on stdout, JSON in benchmarks/results/suite.json."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchsuite import endtoend, latency, overhead, training
from benchsuite.common import RESULTS, BenchError, log, machine, machine_lines
from benchsuite.peak import MatmulPeak
from benchsuite.workloads import FLOP_COUNT, Workload, long_workloads, workloads

SECTIONS = ("training", "pytorch", "latency", "overhead", "endtoend")
DEFAULT_REPEATS = {"training": 3, "latency": 5, "overhead": 3, "endtoend": 1}
USAGE = """\
    python benchmarks/run.py                  # every section (15 to 20 minutes on 2 cores)
    python benchmarks/run.py --quick          # a smoke run: a few seconds per item
    python benchmarks/run.py --only latency   # one section (repeatable)
    python benchmarks/run.py --repeats 5      # repeats of every section

Sections: training (lstmcli train throughput), pytorch (the same workloads on torch nn.LSTM,
interleaved with lstmcli, so it runs the training section too), latency (end-to-end commands),
overhead (lstmcli train vs a minimal Keras script), endtoend (a run of about a minute with no flag
vs PyTorch, compile included: issue 20's goal). Read medians and ratios: both sides of every
comparison run interleaved in this one run, on a machine that may be shared and noisy.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=f"{__doc__}\n\n{USAGE}", formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: few steps and epochs, one repeat")
    ap.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        metavar="NAME",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help="repeats of every section (default: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_REPEATS.items())
        + "; --quick: 1)",
    )
    ap.add_argument("--output", type=Path, default=RESULTS / "suite.json", help="the JSON file")
    args = ap.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        ap.error("--repeats: expected N >= 1")
    return args


def repeats(args: argparse.Namespace, section: str) -> int:
    return args.repeats or (1 if args.quick else DEFAULT_REPEATS[section])


Section = Callable[[], dict[str, Any]]
Renderer = Callable[[dict[str, Any]], str]


def guarded(name: str, run: Section, show: Renderer) -> dict[str, Any]:
    """Run one section; a failing command is reported in its place and the suite goes on."""
    load = [round(x, 2) for x in os.getloadavg()]
    try:
        result = run()
    except BenchError as e:
        log(f"[{name}] FAILED: {e}")
        print(f"{name}: FAILED: {e}\n", flush=True)
        return {"error": str(e)}
    print(show(result) + "\n", flush=True)
    return {"load_average_at_start": load, **result}


def training_sections(
    args: argparse.Namespace, chosen: set[str], ws: list[Workload], tmp: Path, peak: MatmulPeak
) -> dict[str, Any]:
    """Sections 1 and 2 share their runs: PyTorch runs interleaved with lstmcli."""
    with_torch = "pytorch" in chosen and training.torch_available()
    n = repeats(args, "training")
    out: dict[str, Any] = {}
    out["training"] = guarded(
        "training",
        lambda: training.measure(ws, n, tmp, with_torch, peak),
        lambda r: training.lstmcli_table(r, peak),
    )
    if "pytorch" not in chosen:
        return out
    if not with_torch:
        out["pytorch"] = {"skipped": "torch is not importable (pip install -e '.[bench]')"}
        print("2. lstmcli vs PyTorch: skipped (torch is not importable)\n", flush=True)
    elif "error" in out["training"]:
        out["pytorch"] = {"error": out["training"]["error"]}
    else:
        out["pytorch"] = {"see": "training.workloads[].torch"}
        print(training.torch_table(out["training"]) + "\n", flush=True)
    return out


def run_sections(args: argparse.Namespace, chosen: set[str], peak: MatmulPeak) -> dict[str, Any]:
    ws = workloads(args.quick)
    sections: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lstmcli-bench-") as name:
        tmp = Path(name)
        if chosen & {"training", "pytorch"}:
            sections.update(training_sections(args, chosen, ws, tmp, peak))
        if "latency" in chosen:
            n = repeats(args, "latency")
            sections["latency"] = guarded("latency", lambda: latency.measure(n, tmp), latency.latency_table)
        if "overhead" in chosen:
            w = ws[0] if args.quick else ws[1]  # quick: small; full: standard
            n = repeats(args, "overhead")
            sections["overhead"] = guarded(
                "overhead", lambda: overhead.measure(w, n, tmp), overhead.overhead_table
            )
        if "endtoend" in chosen and training.torch_available():
            n = repeats(args, "endtoend")
            long = long_workloads(args.quick)
            sections["endtoend"] = guarded(
                "endtoend", lambda: endtoend.measure(long, n, tmp), endtoend.endtoend_table
            )
    return sections


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = set(args.only or SECTIONS)
    started, t0 = datetime.now(UTC), time.perf_counter()
    info = machine()
    print("\n".join(machine_lines(info)), flush=True)
    peak = MatmulPeak()
    peak.measure(tries=3 if args.quick else 8)
    what = f"NumPy float32 {peak.n}x{peak.n}, best of {len(peak.samples)}"
    print(f"matmul peak at start ({what}): {peak.best:.1f} GFLOP/s; sampled again between repeats\n")
    sections = run_sections(args, chosen, peak)
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result = {
        "suite": "lstmcli benchmark suite",
        "command": " ".join(["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "options": {"quick": args.quick, "only": sorted(chosen), "repeats": args.repeats},
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "machine": info,
        "matmul_peak": peak.to_dict(),
        "flop_count": FLOP_COUNT,
        "sections": sections,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"load average at end: {' '.join(str(x) for x in info['load_average_end'])}")
    print(f"suite: {result['wall_seconds']:.0f} s; JSON: {args.output}")
    return 1 if any("error" in s for s in sections.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
