"""Wall time of one search sweep with `--workers 1` and with `--workers 2` (issue 22).

Runs the real CLI (`python -m lstmcli sweep CONFIG --search SPACE --trials N --workers W`, a
subprocess per sweep, this checkout's lstmcli) in a temporary folder, alternating the worker
counts over `--repeats` rounds, and records each sweep's wall time, the load average before and
after, and the speed-up (workers-1 time / workers-2 time, per round). Prints a table and writes
benchmarks/results/sweep.json.

    python benchmarks/bench_sweep.py [--trials 8] [--repeats 1] [--set train.epochs=300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = "model.units: {choices: [4, 8, 16]}\ntrain.learning_rate: {low: 0.01, high: 0.1, log: true}\n"


def one(config: Path, space: Path, out: Path, trials: int, workers: int, sets: list[str]) -> dict:
    args = [sys.executable, "-m", "lstmcli", "sweep", str(config), "--search", str(space)]
    args += ["--trials", str(trials), "--workers", str(workers), "--out", str(out), "--json"]
    args += [a for s in sets for a in ("--set", s)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    doc = json.loads(r.stdout)
    done = sum(p["status"] in ("finished", "pruned") for p in doc["points"])
    return {
        "workers": workers,
        "seconds": round(wall, 1),
        "trials_done": done,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "hello.yaml")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space.yaml"
        space.write_text(SPACE)
        for r in range(a.repeats):
            for w in (1, 2) if r % 2 == 0 else (2, 1):
                rows.append(
                    {"round": r, **one(a.config, space, Path(tmp) / f"s{r}-{w}", a.trials, w, a.sets)}
                )
                print(rows[-1], flush=True)
    ratios = []
    for r in range(a.repeats):
        t = {row["workers"]: row["seconds"] for row in rows if row["round"] == r}
        ratios.append(round(t[1] / t[2], 2))
    cores = len(os.sched_getaffinity(0))
    print(f"\n{'workers':>8} {'seconds':>8} {'load before→after':>18}")
    for row in rows:
        print(f"{row['workers']:>8} {row['seconds']:>8} {row['load_before']:>9.1f} → {row['load_after']:.1f}")
    print(f"speed-up (workers 1 / workers 2) per round: {ratios}  ({cores} cores)")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "sweep.json").write_text(
        json.dumps(
            {
                "config": str(a.config),
                "trials": a.trials,
                "sets": a.sets,
                "cores": cores,
                "rows": rows,
                "speedup": ratios,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
