"""What `train.kernel: auto` / `train.jit_compile: auto` / `train.steps_per_call: auto` pick, against
the alternatives, end to end through `lstmcli train` (issue 20 items 1 and 2).

    python benchmarks/bench_auto.py                                  # hello, small, standard, large
    python benchmarks/bench_auto.py --workloads small,standard --repeats 3
    python benchmarks/bench_auto.py --workloads large --epochs 20    # a longer run: XLA may pay

Per workload (hello = configs/hello.yaml; small, standard, large = the suite's shapes from
benchsuite/workloads.py, `--epochs` and `--steps` changing the run's length, which the choice
weighs against XLA's compile time), one `lstmcli train` subprocess per variant, the order rotating
every repeat:

  auto        no settings: what lstmcli chooses (run.json's `choice` is recorded)
  fast        train.kernel=fast, jit_compile=false, steps_per_call=1 (the default before auto)
  stock       train.kernel=stock, jit_compile=false, steps_per_call=1
  fast+xla    train.kernel=fast, jit_compile=true (the recurrence's layout as auto picks it)
  auto-spc1   auto with train.steps_per_call=1 (item 2: one host round trip a step)

Reported: the process's wall time (start-up, tracing, XLA's compile, training, saving), the first
epoch's seconds (where tracing and compiling fall), the steady tokens/s (median over the epochs
after the first), and each variant's wall time over auto's in the same repeat (median over
repeats). The load average and the cores other processes kept busy are recorded beside each run.
Prints a table; writes benchmarks/results/auto.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lstmcli from this checkout

from benchsuite.common import RESULTS, log, lstmcli, machine, median, run_timed, table  # noqa: E402
from benchsuite.workloads import Workload, write_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {
    "small": Workload("small", units=32, timesteps=16, steps=16, epochs=10),
    "standard": Workload("standard", units=128, timesteps=64, steps=16, epochs=5),
    "large": Workload("large", units=512, timesteps=128, steps=4, epochs=3),
}
VARIANTS: dict[str, list[str]] = {
    "auto": [],
    "fast": ["train.kernel=fast", "train.jit_compile=false", "train.steps_per_call=1"],
    "stock": ["train.kernel=stock", "train.jit_compile=false", "train.steps_per_call=1"],
    "fast+xla": ["train.kernel=fast", "train.jit_compile=true"],
    "auto-spc1": ["train.steps_per_call=1"],
}


def sample(config: Path, out: Path, sets: list[str]) -> dict[str, Any]:
    """One `lstmcli train` subprocess: wall time, per-epoch figures, run.json's choice."""
    flags = [x for s in sets for x in ("--set", s)]
    done = run_timed([*lstmcli(), "train", str(config), "--out", str(out), "--force", "--json", *flags])
    reply = json.loads(done.stdout)
    run_dir = Path(reply["run_dir"])
    with open(run_dir / "history.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    per_epoch = [float(r["tokens_per_second"]) for r in rows]
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return {
        "wall_seconds": round(done.seconds, 3),
        "other_cores": round(done.other_cores, 2),
        "load_average": round(os.getloadavg()[0], 2),
        "train_seconds": reply.get("wall_seconds"),
        "first_epoch_seconds": float(rows[0]["seconds"]) if rows else None,
        "tokens_per_second": median(per_epoch[1:] or per_epoch),
        "choice": record.get("choice"),
    }


def configs(names: list[str], folder: Path, epochs: int | None, steps: int | None) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for name in names:
        if name == "hello":
            paths[name] = ROOT / "configs" / "hello.yaml"
            continue
        w = SHAPES[name]
        w = replace(w, epochs=epochs or w.epochs, steps=steps or w.steps)
        paths[name] = write_config(w, folder)
    return paths


def measure(name: str, config: Path, variants: list[str], repeats: int, tmp: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for r in range(repeats):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for v in order:
            runs[v].append(sample(config, tmp / name / v.replace("+", "_"), VARIANTS[v]))
            s = runs[v][-1]
            log(f"[{name}] repeat {r + 1}/{repeats} {v}: {s['wall_seconds']:.1f} s, load {s['load_average']}")
    out: dict[str, Any] = {"workload": name, "config": str(config), "variants": {}}
    for v, samples in runs.items():
        entry: dict[str, Any] = {
            "wall_seconds": median([s["wall_seconds"] for s in samples]),
            "first_epoch_seconds": median([s["first_epoch_seconds"] or 0.0 for s in samples]),
            "tokens_per_second": median([s["tokens_per_second"] for s in samples]),
            "choice": samples[-1]["choice"],
            "samples": samples,
        }
        if "auto" in runs and v != "auto":
            ratios = [
                a["wall_seconds"] / s["wall_seconds"] for a, s in zip(runs["auto"], samples, strict=True)
            ]
            entry["auto_wall_over_this"] = round(median(ratios), 3)  # < 1: auto was quicker
        out["variants"][v] = entry
    return out


def render(results: list[dict[str, Any]]) -> str:
    rows = []
    for res in results:
        for v, e in res["variants"].items():
            c = e["choice"] or {}
            path = " ".join(
                f"{k}={c.get(key)}"
                for k, key in (
                    ("", "kernel"),
                    ("xla", "jit_compile"),
                    ("unroll", "unroll"),
                    ("spc", "steps_per_call"),
                )
            ).lstrip("=")
            loads = [s["load_average"] for s in e["samples"]]
            rows.append(
                [
                    f"{res['workload']} {v}",
                    path,
                    f"{e['wall_seconds']:.1f}",
                    f"{e['first_epoch_seconds']:.2f}",
                    f"{e['tokens_per_second']:,.0f}",
                    f"{e['auto_wall_over_this']:.2f}" if "auto_wall_over_this" in e else "–",
                    f"{min(loads):.1f}-{max(loads):.1f}",
                ]
            )
    headers = [
        "workload variant",
        "path taken",
        "wall s",
        "epoch 1 s",
        "steady tok/s",
        "auto/this wall",
        "load",
    ]
    return table("lstmcli train: auto against the alternatives (medians over repeats)", headers, rows)


def calls(names: list[str], per_call: list[int], rounds: int, block_steps: int) -> list[dict[str, Any]]:
    """Item 2 in one process: the training step of each workload run `per_call` steps a call
    (`_Steps.run_train`, as the loop runs it), blocks of `block_steps` steps interleaved, the
    order rotating each round; steady-state steps/s, ratios to one step a call in the same round."""
    from lstmcli import config as config_mod
    from lstmcli.model import backend, choose
    from lstmcli.training import loop

    out = []
    with tempfile.TemporaryDirectory(prefix="bench-auto-") as tmp:
        for name, path in configs(names, Path(tmp), None, None).items():
            prep = loop.prepare(config_mod.load(path, []))
            cfg = prep.cfg
            backend.set_seed(cfg.seed)
            model = backend.build_model(cfg)
            backend.compile_model(model, cfg, 1)
            picked = choose.choose(cfg, "cpu", cfg.train.epochs * loop.steps_per_epoch(cfg, prep.windows))
            steps = loop._Steps(model, cfg, None, picked)
            batches = steps.batches(loop._pipeline(cfg, prep.windows).train())
            flag = np.float32(0.0)
            for n in per_call:  # tracing
                steps.run_train(batches, n, flag)
            rates: dict[int, list[float]] = {n: [] for n in per_call}
            for r in range(rounds):
                for n in per_call[r % len(per_call) :] + per_call[: r % len(per_call)]:
                    t0 = time.perf_counter()
                    for _ in range(block_steps // n):
                        steps.run_train(batches, n, flag)
                    rates[n].append((block_steps // n) * n / (time.perf_counter() - t0))
            ratios = {n: median([a / b for a, b in zip(rates[n], rates[1], strict=True)]) for n in per_call}
            load = round(os.getloadavg()[0], 2)
            log(
                f"[{name}] steps/s "
                + ", ".join(f"{n}/call {median(rates[n]):.0f}" for n in per_call)
                + f" (load {load})"
            )
            out.append(
                {
                    "workload": name,
                    "path": picked.to_dict(),
                    "steps_per_second": rates,
                    "over_one": ratios,
                    "load": load,
                }
            )
    return out


def rule_table(names: list[str]) -> str:
    """What lstmcli.model.choose picks on a CPU for each workload over runs of growing length."""
    from lstmcli import config as config_mod
    from lstmcli.model import choose

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-auto-") as tmp:
        for name, path in configs(names, Path(tmp), None, None).items():
            cfg = config_mod.load(path, [])
            suite = cfg.train.epochs * (SHAPES[name].steps if name in SHAPES else 1)
            for planned in sorted({suite, 100, 1_000, 10_000, 100_000}):
                c = choose.choose(cfg, "cpu", planned)
                rows.append(
                    [name, planned, c.kernel, c.jit_compile, c.unroll, c.steps_per_call, c.reason[:90]]
                )
    headers = ["workload", "planned steps", "kernel", "xla", "unroll", "steps/call", "reason (start)"]
    return table("train.kernel / jit_compile / steps_per_call: auto on a CPU", headers, rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="hello,small,standard,large")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--epochs", type=int, help="epochs of the suite shapes (default: the suite's)")
    ap.add_argument("--steps", type=int, help="steps an epoch of the suite shapes (default: the suite's)")
    ap.add_argument("--output", type=Path, default=RESULTS / "auto.json")
    ap.add_argument(
        "--calls", metavar="N,N,...", help="item 2 in-process: steps/s at these steps a call, e.g. 1,4,16"
    )
    ap.add_argument("--rounds", type=int, default=5, help="--calls: interleaved rounds")
    ap.add_argument("--block", type=int, default=64, help="--calls: steps a block")
    ap.add_argument(
        "--rule", action="store_true", help="print what auto picks per workload and run length, run nothing"
    )
    args = ap.parse_args(argv)
    if args.rule:
        print(rule_table(args.workloads.split(",")))
        return 0
    if args.calls:
        per_call = [int(n) for n in args.calls.split(",")]
        found = calls(args.workloads.split(","), per_call, args.rounds, args.block)
        rows = [
            [
                r["workload"],
                n,
                f"{median(r['steps_per_second'][n]):.1f}",
                f"{r['over_one'][n]:.3f}",
                r["load"],
            ]
            for r in found
            for n in per_call
        ]
        print(
            table(
                "steps a call (item 2): steps/s, median of rounds; ratio to 1 a call, same round",
                ["workload", "steps/call", "steps/s", "/ 1 a call", "load"],
                rows,
            )
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "benchmark": "steps per call",
            "command": " ".join(
                ["python", "benchmarks/bench_auto.py", *(argv if argv is not None else sys.argv[1:])]
            ),
            "machine": machine(),
            "workloads": found,
        }
        args.output.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"JSON: {args.output}")
        return 0
    variants = [v for v in VARIANTS if v in args.variants.split(",")]
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-auto-") as tmp:
        paths = configs(args.workloads.split(","), Path(tmp), args.epochs, args.steps)
        for name, config in paths.items():
            results.append(measure(name, config, variants, args.repeats, Path(tmp)))
    print(render(results))
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    doc = {
        "benchmark": "lstmcli train: auto path vs alternatives",
        "command": " ".join(
            ["python", "benchmarks/bench_auto.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "workloads": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
