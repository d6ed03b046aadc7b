"""Peak memory and time per epoch of `lstmcli train` on 1 KB … 100 MB text files.

Generates random text from a small alphabet (in a temporary folder, deleted afterwards) and
trains on it through the real CLI (`python -m lstmcli train CONFIG --out DIR --json`, a
subprocess per run, with the lstmcli of this checkout), character level, `vocab: auto`,
stride 1: a 100 MB file is 100 M overlapping windows.

Two measurements:
1. fixed steps: every size trains the same number of steps (default 12 epochs × 25 steps).
   Reports the child's peak RSS (os.wait4), the seconds per step (median epoch after the first,
   whose time includes tracing, divided by its steps), and the time a full epoch would take at
   that rate (steps of a full epoch × seconds per step: projected, not measured).
2. full epochs (skip with --no-full-epochs): the same sizes with a large stride, trained for
   two whole epochs; reports the measured seconds of the second epoch.
Also: the data read alone (`lstmcli.data.load_windows` in a subprocess, no TensorFlow), its
time and peak RSS.

Prints a table and writes benchmarks/results/memory.json.

    python benchmarks/bench_memory.py [--sizes 1k,1m,10m,100m] [--no-full-epochs]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ALPHABET = b"abcdefghijklmnopqrstuvwxyz .,\n"
UNITS = {"k": 1_000, "m": 1_000_000}


def parse_size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def label(n: int) -> str:
    return f"{n // 1_000_000} MB" if n >= 1_000_000 else f"{n // 1_000} KB"


def write_text(path: Path, size: int, seed: int = 0) -> None:
    """`size` bytes of random letters, spaces (~1 in 6), punctuation and newlines (ASCII)."""
    rng = np.random.default_rng(seed)
    p = np.array([0.029] * 26 + [0.16, 0.03, 0.03, 0.026])
    p /= p.sum()
    codes = np.frombuffer(ALPHABET, np.uint8)
    with path.open("wb") as f:
        left = size
        while left:
            # Small pieces keep this process small: a child's peak RSS (wait4) is never below
            # the peak of the process that forked it.
            n = min(left, 1 << 20)
            f.write(codes[rng.choice(len(codes), size=n, p=p)].tobytes())
            left -= n


def write_config(path: Path, text: Path, *, stride: int, epochs: int, steps: int | None, args) -> None:
    train = {"epochs": epochs, "batch_size": args.batch_size, "learning_rate": 0.01}
    if steps:
        train["steps_per_epoch"] = steps
    cfg = {
        "vocab": "auto",
        "sequence_length": args.sequence_length,
        "seed": 0,
        "model": {"units": args.units},
        "data": {"text_file": str(text), "stride": stride},
        "train": train,
    }
    path.write_text(json.dumps(cfg))  # JSON is YAML


def run(cmd: list[str], out_path: Path) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS MB of the child, exit status, stdout) of one subprocess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    with out_path.open("w+b") as out, (out_path.with_suffix(".err")).open("w+b") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read().decode()}")
        return wall, usage.ru_maxrss / 1024, proc.returncode, out.read().decode()


def read_only(cfg_path: Path, tmp: Path) -> dict:
    """The data read alone, in a subprocess: seconds, and its own peak RSS (VmHWM) before and
    after reading, so the difference is what reading costs."""
    code = (
        "import json, sys, time\n"
        "from lstmcli import config, data\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1]) / 1024\n"
        "before = hwm()\n"
        "t = time.perf_counter()\n"
        f"cfg, w = data.load_windows(config.load({str(cfg_path)!r}))\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'windows': w.count, "
        "'tokens': int(w.ids.size), 'dtype': str(w.ids.dtype), 'vocab': len(cfg.vocab), "
        "'tensorflow_imported': 'tensorflow' in sys.modules, 'peak_rss_before_mb': round(before, 1), "
        "'peak_rss_mb': round(hwm(), 1)}))"
    )
    out = json.loads(run([sys.executable, "-c", code], tmp / "read.out")[3])
    out["delta_rss_mb"] = round(out["peak_rss_mb"] - out["peak_rss_before_mb"], 1)
    return out


def train(cfg_path: Path, run_dir: Path, tmp: Path) -> dict:
    wall, peak, _, out = run(
        [sys.executable, "-m", "lstmcli", "train", str(cfg_path), "--out", str(run_dir), "--json"],
        tmp / "train.out",
    )
    with (run_dir / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {
        "wall_seconds": round(wall, 2),
        "peak_rss_mb": round(peak, 1),
        "epoch_seconds": [float(r["seconds"]) for r in rows],
        "loss": float(rows[-1]["loss"]),
    }


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1k,1m,10m,100m")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--steps-per-epoch", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--sequence-length", type=int, default=32)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--full-epoch-stride", type=int, default=512)
    ap.add_argument("--no-full-epochs", action="store_true")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]

    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="lstmcli-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for size in sizes:
            text = tmp / f"text-{size}.txt"
            write_text(text, size)
            cfg = tmp / f"fixed-{size}.yaml"
            write_config(cfg, text, stride=1, epochs=args.epochs, steps=args.steps_per_epoch, args=args)
            row: dict = {"size_bytes": size, "size": label(size)}
            row["read"] = read_only(cfg, tmp)
            fixed = train(cfg, tmp / f"run-fixed-{size}", tmp)
            windows = row["read"]["windows"]
            full_steps = -(-windows // args.batch_size)
            steps = min(args.steps_per_epoch, full_steps)
            per_step = statistics.median(fixed["epoch_seconds"][1:]) / steps
            row["fixed"] = {
                **fixed,
                "steps": steps * args.epochs,
                "seconds_per_step": round(per_step, 5),
                "full_epoch_steps": full_steps,
                "projected_epoch_seconds": round(per_step * full_steps, 1),
            }
            if not args.no_full_epochs:
                stride = args.full_epoch_stride
                cfg = tmp / f"full-{size}.yaml"
                write_config(cfg, text, stride=stride, epochs=2, steps=None, args=args)
                n = max(0, (size - args.sequence_length - 1) // stride + 1)
                if n >= args.batch_size:
                    full = train(cfg, tmp / f"run-full-{size}", tmp)
                    row["full"] = {
                        **full,
                        "stride": stride,
                        "windows": n,
                        "steps": -(-n // args.batch_size),
                        "measured_epoch_seconds": full["epoch_seconds"][1],
                    }
            text.unlink()
            results.append(row)
            print(f"done {label(size)}", file=sys.stderr)

    first = results[0]["fixed"]["peak_rss_mb"]
    print(
        f"{'size':>7} {'windows':>11} {'read s':>7} {'read ΔRSS':>9} {'train peak RSS':>14} {'Δ vs 1st':>8} "
        f"{'s/step':>8} {'full-epoch steps':>16} {'epoch s (proj.)':>15} {'epoch s (meas.)':>22}"
    )
    for r in results:
        f = r["fixed"]
        full = r.get("full")
        meas = f"{full['measured_epoch_seconds']:.2f} ({full['steps']} st.)" if full else "–"
        print(
            f"{r['size']:>7} {r['read']['windows']:>11,} {r['read']['seconds']:>7.2f} "
            f"{r['read']['delta_rss_mb']:>7.0f}MB {f['peak_rss_mb']:>12.0f}MB "
            f"{f['peak_rss_mb'] - first:>+6.0f}MB {f['seconds_per_step'] * 1000:>6.2f}ms "
            f"{f['full_epoch_steps']:>16,} {f['projected_epoch_seconds']:>15,.1f} {meas:>22}"
        )
    delta = results[-1]["fixed"]["peak_rss_mb"] - first
    out = {
        "benchmark": "lstmcli train on random text (char level, vocab: auto, stride 1), subprocess per run",
        "settings": {k: v for k, v in vars(args).items() if k != "sizes"},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        # wait4's peak RSS of a child is at least this (the forking process's own peak)
        "benchmark_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "results": results,
        "goal": {"peak_rss_delta_max_mb": 500, "measured_delta_mb": round(delta, 1), "met": delta <= 500},
    }
    print(
        f"peak RSS of {results[-1]['size']} minus {results[0]['size']}: {delta:+.0f} MB "
        f"(goal <= 500 MB: {'met' if delta <= 500 else 'NOT met'})"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
