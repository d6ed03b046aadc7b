"""End-to-end latency of `lstmcli predict RUN hell` on the NumPy fast path and on Keras."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchsuite.common import RESULTS, lstmcli, run_timed, time_once
from benchsuite.latency import HELLO

ENGINES = ("numpy", "keras")


def trained_run(tmp: Path) -> Path:
    out = tmp / "hello"
    run_timed([*lstmcli(), "train", str(HELLO), "--out", str(out), "--quiet"])
    return out


def measure(run: Path, repeats: int) -> dict[str, list[float]]:
    cmds = {e: [*lstmcli(), "predict", str(run), "hell", "--engine", e, "--json"] for e in ENGINES}
    for cmd in cmds.values():  # warm the page cache
        time_once(cmd)
    times: dict[str, list[float]] = {e: [] for e in cmds}
    for _ in range(repeats):
        for e, cmd in cmds.items():
            times[e].append(time_once(cmd))
    return times


def report(times: dict[str, list[float]], repeats: int) -> dict[str, Any]:
    med = {e: statistics.median(t) for e, t in times.items()}
    result = {
        "benchmark": "lstmcli predict RUN hell (end to end, subprocess)",
        "repeats": repeats,
        "median_seconds": med,
        "min_seconds": {e: min(t) for e, t in times.items()},
        "speedup_numpy_vs_keras": med["keras"] / med["numpy"],
        "goal": {"numpy_median_max_s": 0.5, "speedup_min": 6.0},
    }
    print(f"{'engine':<8} {'median s':>9} {'min s':>7}")
    for e in ENGINES:
        print(f"{e:<8} {med[e]:>9.3f} {min(times[e]):>7.3f}")
    print(
        f"speedup numpy vs keras: {result['speedup_numpy_vs_keras']:.1f}x "
        f"(goal: numpy median <= 0.5 s and >= 6x)"
    )
    return result


def main() -> dict[str, Any]:
    """Both engines interleaved, so a noisy machine slows both alike: read the ratio. Prints a table
    and writes benchmarks/results/predict.json. The suite (`python benchmarks/run.py`, section 3)
    times the same two commands beside the others.

        python benchmarks/bench_predict.py [--repeats 15] [--run RUN_DIR]
    """
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--run", type=Path, help="an existing hello run directory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or trained_run(Path(tmp))
        times = measure(run, args.repeats)
    result = report(times, args.repeats)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "predict.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
