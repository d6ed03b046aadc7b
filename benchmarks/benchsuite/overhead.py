"""Section 4: `lstmcli train` against a minimal hand-written Keras script on the same data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchsuite.common import QUIET_CORES, SCRIPTS, log, median, noise_note, quiet_ratio, run_timed, table
from benchsuite.training import lstmcli_sample, steady
from benchsuite.workloads import Workload, write_config


def keras_sample(config: Path) -> dict[str, Any]:
    done = run_timed([sys.executable, str(SCRIPTS / "keras_minimal.py"), str(config)])
    reply = json.loads(done.stdout)
    per_epoch = reply["tokens_per_second"]
    return {
        "wall_seconds": round(done.seconds, 3),
        "other_cores": round(done.other_cores, 2),
        "in_process_seconds": reply["fit_seconds"],
        "epoch_tokens_per_second": per_epoch,
        "tokens_per_second": steady(per_epoch),
    }


def measure(w: Workload, repeats: int, tmp: Path) -> dict[str, Any]:
    """Both as subprocesses on one workload's config (same model, data, epochs and batch),
    alternating which goes first: total wall time (start-up, TensorFlow import, tracing, run
    directory and saves included) and steady tokens/s (median over epochs after the first)."""
    folder = tmp / "overhead"
    folder.mkdir(exist_ok=True)
    config = write_config(w, folder)
    runs: dict[str, list[dict[str, Any]]] = {"lstmcli": [], "keras": []}
    for r in range(repeats):
        log(f"[overhead] repeat {r + 1}/{repeats}: {w.name}, lstmcli train vs minimal Keras script")
        order = ["keras", "lstmcli"] if r % 2 else ["lstmcli", "keras"]
        for who in order:
            sample = lstmcli_sample(config, folder / "run") if who == "lstmcli" else keras_sample(config)
            runs[who].append(sample)
    return summarise(w, runs)


def summarise(w: Workload, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    pairs = list(zip(runs["lstmcli"], runs["keras"], strict=True))

    def ratio(key: str) -> float:
        return round(median([a[key] / b[key] for a, b in pairs]), 3)

    quiet_wall, n = quiet_ratio(pairs, "wall_seconds")
    quiet_tps, _ = quiet_ratio(pairs, "tokens_per_second")

    return {
        "workload": w.name,
        "shape": w.shape,
        "epochs": w.epochs,
        "sequences": w.sequences,
        "repeats": len(runs["lstmcli"]),
        "median": {
            who: {
                "wall_seconds": round(median([r["wall_seconds"] for r in rs]), 3),
                "in_process_seconds": round(median([r["in_process_seconds"] for r in rs]), 3),
                "tokens_per_second": round(median([r["tokens_per_second"] for r in rs]), 1),
            }
            for who, rs in runs.items()
        },
        "ratio_wall_lstmcli_over_keras": ratio("wall_seconds"),
        "ratio_in_process_lstmcli_over_keras": ratio("in_process_seconds"),
        "ratio_tokens_per_second_lstmcli_over_keras": ratio("tokens_per_second"),
        "quiet": {"pairs": n, "ratio_wall": quiet_wall, "ratio_tokens_per_second": quiet_tps},
        "runs": runs,
    }


def overhead_table(result: dict[str, Any]) -> str:
    m = result["median"]
    rows = [
        [
            name,
            f"{m[who]['wall_seconds']:.2f}",
            f"{m[who]['in_process_seconds']:.2f}",
            f"{m[who]['tokens_per_second']:,.0f}",
        ]
        for who, name in (("lstmcli", "lstmcli train"), ("keras", "minimal keras"))
    ]
    rows.append(
        [
            "lstmcli / keras",
            f"{result['ratio_wall_lstmcli_over_keras']:.2f}x",
            f"{result['ratio_in_process_lstmcli_over_keras']:.2f}x",
            f"{result['ratio_tokens_per_second_lstmcli_over_keras']:.2f}x",
        ]
    )
    title = (
        f"4. lstmcli train vs a minimal Keras script ({result['workload']}: {result['shape']}, "
        f"{result['epochs']} epochs; median of {result['repeats']}; ratios = median of paired ratios)"
    )
    noise = [r["other_cores"] for rs in result["runs"].values() for r in rs]
    q = result["quiet"]
    quiet = f"  quiet pairs (noise < {QUIET_CORES} cores on both sides): {q['pairs']}" + (
        f"; wall {q['ratio_wall']:.2f}x, tokens/s {q['ratio_tokens_per_second']:.2f}x" if q["pairs"] else ""
    )
    return "\n".join(
        [table(title, ["runner", "wall s", "in-process s", "tokens/s"], rows), NOTE, noise_note(noise), quiet]
    )


NOTE = (
    "  wall: the subprocess, start to exit; in-process: lstmcli's own wall_seconds (--json: train() after\n"
    "  the run directory is made: load, fit, final save) against the script's model.fit; tokens/s: median\n"
    "  epoch after the first."
)
