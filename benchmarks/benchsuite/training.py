"""Sections 1 and 2: training throughput through `lstmcli train`, and PyTorch on the same shapes."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
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

# What a user gets without a flag (`default`: train.kernel, jit_compile and steps_per_call at
# auto), and lstmcli's two training kernels (`lstmcli train --set train.kernel=NAME`), each run
# beside PyTorch in every repeat.
KERNELS = ("default", "fast", "stock")
SIDES = (*KERNELS, "torch")

# PyTorch's training normally takes < 10 s a run here; on a contended machine its thread pool was
# seen to slow down 250-fold (98 s for `small`), so a run stops after this long (marked truncated).
TORCH_MAX_SECONDS = 45.0


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def steady(tokens_per_second: list[float]) -> float:
    """The median over the epochs after the first (the first includes tracing and warm-up)."""
    return median(tokens_per_second[1:] or tokens_per_second)


def lstmcli_sample(config: Path, out: Path, kernel: str | None = None) -> dict[str, Any]:
    """One `lstmcli train` subprocess (with `--set train.kernel=KERNEL` when given): its wall time
    and per-epoch tokens/s from history.csv."""
    kernel_set = ["--set", f"train.kernel={kernel}"] if kernel and kernel != "default" else []
    done = run_timed([*lstmcli(), "train", str(config), "--out", str(out), "--force", "--json", *kernel_set])
    reply = json.loads(done.stdout)
    with open(Path(reply["run_dir"]) / "history.csv", encoding="utf-8", newline="") as f:
        per_epoch = [float(row["tokens_per_second"]) for row in csv.DictReader(f)]
    if not per_epoch:
        raise BenchError(f"{out}/history.csv: no epochs")
    return {
        "wall_seconds": round(done.seconds, 3),
        "other_cores": round(done.other_cores, 2),
        "load_average": round(os.getloadavg()[0], 2),  # the 1-minute load as the run ended
        "in_process_seconds": reply.get("wall_seconds"),  # training, compile included
        "end_to_end_tokens_per_second": _end_to_end(reply, config),
        "epoch_tokens_per_second": per_epoch,
        "tokens_per_second": steady(per_epoch),
    }


def _end_to_end(reply: dict[str, Any], config: Path) -> float | None:
    """Every token trained over the training's own wall time (tracing and XLA compile included)."""
    import yaml

    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    seconds = reply.get("wall_seconds")
    if not seconds:
        return None
    seqs = cfg["data"]["sequences"]
    tokens = len(seqs) * (len(seqs[0]) - 1) * int(reply.get("epochs") or cfg["train"]["epochs"])
    return round(tokens / seconds, 1)


def torch_sample(config: Path, max_seconds: float) -> dict[str, Any]:
    """One benchsuite/torch_lstm.py subprocess on the same config, stopped after `max_seconds`."""
    cmd = [sys.executable, str(SCRIPTS / "torch_lstm.py"), str(config), "--max-seconds", str(max_seconds)]
    done = run_timed(cmd)
    reply = json.loads(done.stdout)
    per_epoch = reply["tokens_per_second"]
    return {
        "wall_seconds": round(done.seconds, 3),
        "other_cores": round(done.other_cores, 2),
        "load_average": round(os.getloadavg()[0], 2),  # the 1-minute load as the run ended
        "threads": reply["threads"],
        "truncated": reply["truncated"],
        "epoch_seconds": reply["epoch_seconds"],
        "epoch_tokens_per_second": per_epoch,
        "tokens_per_second": steady(per_epoch),
    }


def one_repeat(config: Path, out: Path, with_torch: bool, rotation: int) -> dict[str, dict[str, Any]]:
    """Every kernel and (optionally) PyTorch back to back on one workload, in rotated order."""
    sides = [side for side in SIDES if with_torch or side != "torch"]
    k = rotation % len(sides)
    samples: dict[str, dict[str, Any]] = {}
    for who in sides[k:] + sides[:k]:
        if who == "torch":
            samples[who] = torch_sample(config, TORCH_MAX_SECONDS)
        else:
            samples[who] = lstmcli_sample(config, out / who, kernel=who)
    return samples


def measure(
    ws: list[Workload], repeats: int, tmp: Path, with_torch: bool, peak: MatmulPeak
) -> dict[str, Any]:
    """Interleaved repeats over every workload; the matmul peak is sampled again between repeats.

    Each repeat runs every workload through lstmcli's real training path (`lstmcli train CONFIG
    --json --set train.kernel=fast|stock` as subprocesses, throughput read from history.csv) and,
    when torch is importable, through benchsuite/torch_lstm.py right beside them, the order
    rotating every repeat, so the noise of a shared machine falls on all of them. A run's
    throughput is the median over its epochs after the first (which includes tracing); a
    workload's is the median over the repeats, and a ratio is the median of the per-repeat ratios.
    """
    configs = {w.name: write_config(w, tmp) for w in ws}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {w.name: {s: [] for s in SIDES} for w in ws}
    for r in range(repeats):
        for w in ws:
            who = " + ".join(KERNELS) + (" + torch" if with_torch else "")
            log(f"[training] repeat {r + 1}/{repeats}: {w.name} ({w.shape}) {who}")
            for side_name, sample in one_repeat(
                configs[w.name], tmp / f"run-{w.name}", with_torch, r
            ).items():
                runs[w.name][side_name].append(sample)
        peak.measure(tries=3)
    return {"kernels": list(KERNELS), "workloads": [summarise(w, runs[w.name], peak) for w in ws]}


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
        "lstmcli": {kernel: side(runs[kernel], w, flops, peak) for kernel in KERNELS},
    }
    out["ratio_fast_over_stock"] = ratio(runs["fast"], runs["stock"])
    if runs["torch"]:
        out["torch"] = side(runs["torch"], w, flops, peak)
        for kernel in KERNELS:
            pairs = list(zip(runs[kernel], runs["torch"], strict=True))
            out[f"ratio_{kernel}_over_torch"] = ratio(runs[kernel], runs["torch"])
            quiet, n = quiet_ratio(pairs, "tokens_per_second")
            out[f"quiet_ratio_{kernel}_over_torch"] = {
                "ratio": quiet,
                "pairs": n,
                "max_other_cores": QUIET_CORES,
            }
    return out


def ratio(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    """The median of the per-repeat ratios a/b of tokens/s."""
    pairs = zip(a, b, strict=True)
    return round(median([x["tokens_per_second"] / y["tokens_per_second"] for x, y in pairs]), 3)


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
        "load_average": _load_range(runs),
        "runs": runs,
    }


def _load_range(runs: list[dict[str, Any]]) -> str:
    """The 1-minute load averages seen at the end of the runs, as `lo-hi`."""
    loads = [r["load_average"] for r in runs if "load_average" in r]
    return f"{min(loads):.2f}-{max(loads):.2f}" if loads else "–"


def lstmcli_table(result: dict[str, Any], peak: MatmulPeak) -> str:
    rows = []
    for w in result["workloads"]:
        for kernel in result["kernels"]:
            lc = w["lstmcli"][kernel]
            rows.append(
                [
                    f"{w['name']} {kernel}",
                    f"U={w['units']} T={w['timesteps']} B={w['batch']}",
                    f"{lc['tokens_per_second']:,.0f}",
                    f"{lc['sequences_per_second']:,.1f}",
                    f"{w['train_flops_per_token'] / 1e6:.3f}",
                    f"{lc['gflops']:.1f}",
                    f"{lc['percent_of_peak']:.1f}",
                    f"{100 * lc['spread']:.0f}%",
                    f"{lc['other_cores']:.2f}",
                    lc["load_average"],
                    f"{w['ratio_fast_over_stock']:.2f}x" if kernel == "fast" else "",
                ]
            )
    n = len(result["workloads"][0]["lstmcli"]["fast"]["runs"])
    title = (
        f"1. Training throughput, lstmcli train --set train.kernel=fast|stock (median of {n}; "
        f"matmul peak {peak.best:.1f} GFLOP/s)"
    )
    headers = ["workload kernel", "shape", "tokens/s", "seqs/s", "MFLOP/tok", "GFLOP/s", "% peak", "spread"]
    return "\n".join(
        [table(title, [*headers, "noise", "load avg", "fast/stock"], rows), NOTES, wrap_note(FLOP_COUNT)]
    )


def torch_table(result: dict[str, Any]) -> str:
    rows, cut = [], 0
    for w in result["workloads"]:
        t = w["torch"]
        truncated = sum(r["truncated"] for r in t["runs"])
        cut += truncated
        rows.append(
            [
                w["name"],
                *(f"{w['lstmcli'][kernel]['tokens_per_second']:,.0f}" for kernel in result["kernels"]),
                f"{t['tokens_per_second']:,.0f}",
                f"{t['gflops']:.1f}",
                f"{t['percent_of_peak']:.1f}",
                f"{100 * t['spread']:.0f}%" + (f" ({truncated} cut)" if truncated else ""),
                f"{t['other_cores']:.2f}",
                t["load_average"],
                *(f"{w[f'ratio_{kernel}_over_torch']:.2f}x" for kernel in result["kernels"]),
                *(quiet_cell(w[f"quiet_ratio_{kernel}_over_torch"]) for kernel in result["kernels"]),
            ]
        )
    threads = result["workloads"][0]["torch"]["runs"][0]["threads"]
    title = (
        f"2. lstmcli vs PyTorch nn.LSTM, interleaved (torch threads: {threads}; "
        "ratio: median of the per-repeat ratios)"
    )
    kernels = result["kernels"]
    headers = [
        "workload",
        *(f"{kernel} tok/s" for kernel in kernels),
        "torch tok/s",
        "GFLOP/s",
        "% peak",
        "spread",
        "noise",
        "load avg",
        *(f"{kernel}/torch" for kernel in kernels),
        *(f"quiet {kernel}" for kernel in kernels),
    ]
    text = table(title, headers, rows)
    text += (
        f"\n  quiet: the ratio over the repeats where both runs had noise < {QUIET_CORES} cores "
        "(how many pairs).\n  Trust it over the plain median: torch's 2 threads stall when another process "
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
