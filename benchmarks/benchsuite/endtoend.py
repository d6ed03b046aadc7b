"""Section 5: a run of at least a minute end to end, `lstmcli train` with no flag against PyTorch.

Issue 20's goal is stated on this figure: what a user who types `lstmcli train` gets, compile
time included, over a run long enough that a one-off XLA compile is part of the bill but not all
of it. Each workload's config is sized for about a minute of lstmcli training here (see
`workloads.long_workloads`); PyTorch trains the same sequences, epochs and batches in the same
repeat, right before or after (the order alternates).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchsuite.common import QUIET_CORES, log, median, table
from benchsuite.training import lstmcli_sample, torch_sample
from benchsuite.workloads import Workload, write_config

TORCH_MAX_SECONDS = 600.0  # a stalled PyTorch thread pool on a shared machine must still end


def _torch_end_to_end(sample: dict[str, Any], w: Workload) -> float:
    """PyTorch's tokens over its training's wall time (the sum of its epochs)."""
    seconds = sum(sample["epoch_seconds"])
    epochs = len(sample["epoch_seconds"])
    return round(w.sequences * w.timesteps * epochs / seconds, 1) if seconds else 0.0


def measure(ws: list[Workload], repeats: int, tmp: Path) -> dict[str, Any]:
    configs = {w.name: write_config(w, tmp) for w in ws}
    out: list[dict[str, Any]] = []
    for w in ws:
        pairs: list[dict[str, Any]] = []
        for r in range(repeats):
            log(f"[endtoend] repeat {r + 1}/{repeats}: {w.name} ({w.shape}, {w.steps * w.epochs} steps)")
            order = ("lstmcli", "torch") if r % 2 == 0 else ("torch", "lstmcli")
            pair: dict[str, Any] = {}
            for who in order:
                if who == "torch":
                    t = torch_sample(configs[w.name], TORCH_MAX_SECONDS)
                    t["end_to_end_tokens_per_second"] = _torch_end_to_end(t, w)
                    pair["torch"] = t
                else:
                    pair["lstmcli"] = lstmcli_sample(configs[w.name], tmp / f"e2e-{w.name}")
                    run_json = json.loads((tmp / f"e2e-{w.name}" / "run.json").read_text(encoding="utf-8"))
                    pair["lstmcli"]["choice"] = run_json.get("choice")
            pairs.append(pair)
        ratios = [
            p["lstmcli"]["end_to_end_tokens_per_second"] / p["torch"]["end_to_end_tokens_per_second"]
            for p in pairs
        ]
        quiet = [
            x
            for x, p in zip(ratios, pairs, strict=True)
            if max(p["lstmcli"]["other_cores"], p["torch"]["other_cores"]) < QUIET_CORES
        ]
        out.append(
            {
                "name": w.name,
                "shape": w.shape,
                "steps": w.steps * w.epochs,
                "lstmcli_seconds": median([p["lstmcli"]["in_process_seconds"] for p in pairs]),
                "lstmcli_end_to_end": median([p["lstmcli"]["end_to_end_tokens_per_second"] for p in pairs]),
                "torch_end_to_end": median([p["torch"]["end_to_end_tokens_per_second"] for p in pairs]),
                "ratio": round(median(ratios), 3),
                "quiet_ratio": round(median(quiet), 3) if quiet else None,
                "quiet_pairs": len(quiet),
                "choice": pairs[-1]["lstmcli"].get("choice"),
                "runs": pairs,
            }
        )
    return {"workloads": out}


def endtoend_table(result: dict[str, Any]) -> str:
    rows = []
    for w in result["workloads"]:
        choice = w.get("choice") or {}
        picked = ", ".join(f"{k}={v}" for k, v in choice.items() if k != "reason") or "–"
        rows.append(
            [
                w["name"],
                w["shape"],
                f"{w['steps']:,}",
                f"{w['lstmcli_seconds']:.0f} s",
                f"{w['lstmcli_end_to_end']:,.0f}",
                f"{w['torch_end_to_end']:,.0f}",
                f"{w['ratio']:.2f}x",
                f"{w['quiet_ratio']:.2f}x ({w['quiet_pairs']})" if w["quiet_ratio"] else "–",
                picked,
            ]
        )
    headers = ["workload", "shape", "steps", "lstmcli", "default tok/s", "torch tok/s", "ratio", "quiet"]
    title = "5. End to end, a run of about a minute: `lstmcli train` (no flag) vs PyTorch, compile included"
    return table(title, [*headers, "auto chose"], rows)
