"""End-to-end latency of `lstmcli predict RUN hell` on the NumPy fast path and on Keras.

Both engines run interleaved in one process tree, so a noisy machine slows both alike; the
figure that matters is the ratio. Prints a table and writes benchmarks/results/predict.json.

    python benchmarks/bench_predict.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def lstmcli() -> list[str]:
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "lstmcli"]


def trained_run(tmp: Path) -> Path:
    out = tmp / "hello"
    subprocess.run(
        [*lstmcli(), "train", str(ROOT / "configs" / "hello.yaml"), "--out", str(out), "--quiet"],
        check=True,
        capture_output=True,
    )
    return out


def time_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr}")
    return dt


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--run", type=Path, help="an existing hello run directory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or trained_run(Path(tmp))
        cmds = {
            e: [*lstmcli(), "predict", str(run), "hell", "--engine", e, "--json"] for e in ("numpy", "keras")
        }
        for cmd in cmds.values():  # warm the page cache
            time_once(cmd)
        times: dict[str, list[float]] = {e: [] for e in cmds}
        for _ in range(args.repeats):
            for e, cmd in cmds.items():
                times[e].append(time_once(cmd))
    med = {e: statistics.median(t) for e, t in times.items()}
    result = {
        "benchmark": "lstmcli predict RUN hell (end to end, subprocess)",
        "repeats": args.repeats,
        "median_seconds": med,
        "min_seconds": {e: min(t) for e, t in times.items()},
        "speedup_numpy_vs_keras": med["keras"] / med["numpy"],
        "goal": {"numpy_median_max_s": 0.5, "speedup_min": 6.0},
    }
    print(f"{'engine':<8} {'median s':>9} {'min s':>7}")
    for e in cmds:
        print(f"{e:<8} {med[e]:>9.3f} {min(times[e]):>7.3f}")
    print(
        f"speedup numpy vs keras: {result['speedup_numpy_vs_keras']:.1f}x "
        f"(goal: numpy median <= 0.5 s and >= 6x)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "predict.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
