"""Sections 1 and 2: training throughput through `lstmcli train`, and PyTorch on the same shapes."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from benchsuite.common import (
    QUIET_CORES,
    SCRIPTS,
    BenchError,
    log,
    lstmcli,
    median,
    quiet_ratio,
    run_timed,
    spread,
    table,
)
from benchsuite.peak import MatmulPeak
from benchsuite.workloads import FLOP_COUNT, Workload, train_flops_per_token, write_config

# PyTorch's training normally takes < 10 s a run here; on a contended machine its thread pool was
# seen to slow down 250-fold (98 s for `small`), so a run stops after this long (marked truncated).
TORCH_MAX_SECONDS = 45.0


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def steady(tokens_per_second: list[float]) -> float:
    """The median over the epochs after the first (the first includes tracing and warm-up)."""
    return median(tokens_per_second[1:] or tokens_per_second)


def lstmcli_sample(config: Path, out: Path) -> dict[str, Any]:
    """One `lstmcli train` subprocess: its wall time and per-epoch tokens/s from history.csv."""
    done = run_timed([*lstmcli(), "train", str(config), "--out", str(out), "--force", "--json"])
    reply = json.loads(done.stdout)
    with open(Path(reply["run_dir"]) / "history.csv", encoding="utf-8", newline="") as f:
        per_epoch = [float(row["tokens_per_second"]) for row in csv.DictReader(f)]
    if not per_epoch:
        raise BenchError(f"{out}/history.csv: no epochs")
    return {
        "wall_seconds": round(done.seconds, 3),
        "other_cores": round(done.other_cores, 2),
        "in_process_seconds": reply.get("wall_seconds"),
        "epoch_tokens_per_second": per_epoch,
        "tokens_per_second": steady(per_epoch),
    }


def torch_sample(config: Path, max_seconds: float) -> dict[str, Any]:
    """One benchsuite/torch_lstm.py subprocess on the same config, stopped after `max_seconds`."""
    cmd = [sys.executable, str(SCRIPTS / "torch_lstm.py"), str(config), "--max-seconds", str(max_seconds)]
    done = run_timed(cmd)
    reply = json.loads(done.stdout)
    per_epoch = reply["tokens_per_second"]
    return {
        "wall_seconds": round(done.seconds, 3),
        "other_cores": round(done.other_cores, 2),
        "threads": reply["threads"],
        "truncated": reply["truncated"],
        "epoch_tokens_per_second": per_epoch,
        "tokens_per_second": steady(per_epoch),
    }


def one_repeat(
    config: Path, out: Path, with_torch: bool, torch_first: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """lstmcli and (optionally) PyTorch back to back on one workload."""
    t = torch_sample(config, TORCH_MAX_SECONDS) if with_torch and torch_first else None
    lc = lstmcli_sample(config, out)
    if with_torch and not torch_first:
        t = torch_sample(config, TORCH_MAX_SECONDS)
    return lc, t


def measure(
    ws: list[Workload], repeats: int, tmp: Path, with_torch: bool, peak: MatmulPeak
) -> dict[str, Any]:
    """Interleaved repeats over every workload; the matmul peak is sampled again between repeats.

    Each repeat runs every workload through lstmcli's real training path (`lstmcli train CONFIG
    --json` as a subprocess, throughput read from its history.csv) and, when torch is importable,
    through benchsuite/torch_lstm.py right beside it, the two alternating which goes first, so the
    noise of a shared machine falls on both. A run's throughput is the median over its epochs
    after the first (which includes tracing); a workload's is the median over the repeats, and the
    lstmcli/PyTorch ratio is the median of the per-repeat ratios.
    """
    configs = {w.name: write_config(w, tmp) for w in ws}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {w.name: {"lstmcli": [], "torch": []} for w in ws}
    for r in range(repeats):
        for w in ws:
            torch_first = r % 2 == 1
            who = "lstmcli + torch" if with_torch else "lstmcli"
            log(f"[training] repeat {r + 1}/{repeats}: {w.name} ({w.shape}) {who}")
            lc, t = one_repeat(configs[w.name], tmp / f"run-{w.name}", with_torch, torch_first)
            runs[w.name]["lstmcli"].append(lc)
            if t is not None:
                runs[w.name]["torch"].append(t)
        peak.measure(tries=3)
    return {"workloads": [summarise(w, runs[w.name], peak) for w in ws]}


def summarise(w: Workload, runs: dict[str, list[dict[str, Any]]], peak: MatmulPeak) -> dict[str, Any]:
    flops = train_flops_per_token(w)
    out: dict[str, Any] = {
        "name": w.name,
        "units": w.units,
        "timesteps": w.timesteps,
        "batch": w.batch,
        "vocab": w.vocab,
        "sequences": w.sequences,
        "steps_per_epoch": w.steps,
        "epochs": w.epochs,
        "train_flops_per_token": flops,
        "lstmcli": side(runs["lstmcli"], w, flops, peak),
    }
    if runs["torch"]:
        out["torch"] = side(runs["torch"], w, flops, peak)
        pairs = list(zip(runs["lstmcli"], runs["torch"], strict=True))
        ratios = [a["tokens_per_second"] / b["tokens_per_second"] for a, b in pairs]
        out["ratio_lstmcli_over_torch"] = round(median(ratios), 3)
        quiet, n = quiet_ratio(pairs, "tokens_per_second")
        out["quiet_ratio_lstmcli_over_torch"] = {"ratio": quiet, "pairs": n, "max_other_cores": QUIET_CORES}
    return out


def side(runs: list[dict[str, Any]], w: Workload, flops: int, peak: MatmulPeak) -> dict[str, Any]:
    """One framework's runs of a workload: medians over the repeats, GFLOP/s and % of the peak."""
    tps = median([r["tokens_per_second"] for r in runs])
    return {
        "tokens_per_second": round(tps, 1),
        "sequences_per_second": round(tps / w.timesteps, 2),
        "gflops": round(tps * flops / 1e9, 2),
        "percent_of_peak": round(100 * tps * flops / 1e9 / peak.best, 1),
        "spread": round(spread([r["tokens_per_second"] for r in runs]), 3),
        "other_cores": round(median([r["other_cores"] for r in runs]), 2),
        "runs": runs,
    }


def lstmcli_table(result: dict[str, Any], peak: MatmulPeak) -> str:
    rows = []
    for w in result["workloads"]:
        lc = w["lstmcli"]
        rows.append(
            [
                w["name"],
                f"U={w['units']} T={w['timesteps']} B={w['batch']}",
                f"{lc['tokens_per_second']:,.0f}",
                f"{lc['sequences_per_second']:,.1f}",
                f"{w['train_flops_per_token'] / 1e6:.3f}",
                f"{lc['gflops']:.1f}",
                f"{lc['percent_of_peak']:.1f}",
                f"{100 * lc['spread']:.0f}%",
                f"{lc['other_cores']:.2f}",
            ]
        )
    n = len(result["workloads"][0]["lstmcli"]["runs"])
    title = f"1. Training throughput, lstmcli train (median of {n}; matmul peak {peak.best:.1f} GFLOP/s)"
    headers = ["workload", "shape", "tokens/s", "seqs/s", "MFLOP/tok", "GFLOP/s", "% peak", "spread", "noise"]
    return "\n".join([table(title, headers, rows), NOTES, wrap_note(FLOP_COUNT)])


def torch_table(result: dict[str, Any]) -> str:
    rows, cut = [], 0
    for w in result["workloads"]:
        lc, t = w["lstmcli"], w["torch"]
        truncated = sum(r["truncated"] for r in t["runs"])
        cut += truncated
        rows.append(
            [
                w["name"],
                f"{lc['tokens_per_second']:,.0f}",
                f"{t['tokens_per_second']:,.0f}",
                f"{t['gflops']:.1f}",
                f"{t['percent_of_peak']:.1f}",
                f"{100 * t['spread']:.0f}%" + (f" ({truncated} cut)" if truncated else ""),
                f"{t['other_cores']:.2f}",
                f"{w['ratio_lstmcli_over_torch']:.2f}x",
                quiet_cell(w["quiet_ratio_lstmcli_over_torch"]),
            ]
        )
    threads = result["workloads"][0]["torch"]["runs"][0]["threads"]
    title = (
        f"2. lstmcli vs PyTorch nn.LSTM, interleaved (torch threads: {threads}; "
        "ratio: median of the per-repeat ratios)"
    )
    headers = ["workload", "lstmcli tok/s", "torch tok/s", "GFLOP/s", "% peak", "spread", "noise"]
    text = table(title, [*headers, "lstmcli/torch", "quiet pairs"], rows)
    text += (
        f"\n  quiet pairs: the ratio over the repeats where both runs had noise < {QUIET_CORES} cores "
        "(how many).\n  Trust it over the plain median: torch's 2 threads stall when another process "
        "holds a core."
    )
    if cut:
        text += f"\n  cut: a torch run stopped at its {TORCH_MAX_SECONDS:.0f} s budget (its threads stalled)"
    return text


def quiet_cell(quiet: dict[str, Any]) -> str:
    return f"{quiet['ratio']:.2f}x ({quiet['pairs']})" if quiet["ratio"] is not None else "– (0)"


NOTES = (
    "  tokens/s: median over the runs of each run's median epoch after the first (tracing); "
    "spread: (max-min)/median\n  over the runs; noise: cores kept busy by other processes "
    "during a run (median over the runs)."
)


def wrap_note(text: str, width: int = 100) -> str:
    return "\n".join(textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="  "))
