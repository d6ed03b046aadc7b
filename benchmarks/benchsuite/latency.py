"""Section 3: end-to-end latency of lstmcli commands, each a fresh subprocess, interleaved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchsuite.common import ROOT, log, lstmcli, median, noise_note, run_timed, shown, table

HELLO = ROOT / "configs" / "hello.yaml"


def commands(run_dir: Path) -> dict[str, list[str]]:
    """The commands timed, by the name they are reported under."""
    cli, hello = lstmcli(), str(HELLO.relative_to(ROOT))
    return {
        "lstmcli --help": [*cli, "--help"],
        "config validate hello": [*cli, "config", "validate", hello],
        "inspect hello": [*cli, "inspect", hello],
        "train hello": [*cli, "train", hello, "--out", str(run_dir), "--force"],
        "predict --engine numpy": [*cli, "predict", str(run_dir), "hell", "--engine", "numpy"],
        "predict --engine keras": [*cli, "predict", str(run_dir), "hell", "--engine", "keras"],
    }


def measure(repeats: int, tmp: Path) -> dict[str, Any]:
    """Every repeat runs the whole list in order (the timed `train` writes the run the two
    `predict` commands then read), so a slow moment of a shared machine hits one repeat of every
    command rather than every repeat of one. Read the medians, and for predict the ratio."""
    cmds = commands(tmp / "hello")
    times: dict[str, list[float]] = {name: [] for name in cmds}
    noise: list[float] = []
    for r in range(repeats):
        log(f"[latency] repeat {r + 1}/{repeats}")
        for name, cmd in cmds.items():
            done = run_timed(cmd)
            times[name].append(done.seconds)
            noise.append(round(done.other_cores, 2))
    rows = {
        name: {
            "command": shown(cmd).replace(str(tmp / "hello"), "RUN"),
            "median_seconds": round(median(times[name]), 3),
            "min_seconds": round(min(times[name]), 3),
            "max_seconds": round(max(times[name]), 3),
            "seconds": [round(t, 3) for t in times[name]],
        }
        for name, cmd in cmds.items()
    }
    pairs = zip(times["predict --engine keras"], times["predict --engine numpy"], strict=True)
    return {
        "repeats": repeats,
        "commands": rows,
        "predict_keras_over_numpy": round(median([k / n for k, n in pairs]), 2),
        "other_cores": noise,
    }


def latency_table(result: dict[str, Any]) -> str:
    rows = [
        [name, f"{c['median_seconds']:.3f}", f"{c['min_seconds']:.3f}", f"{c['max_seconds']:.3f}"]
        for name, c in result["commands"].items()
    ]
    title = f"3. End-to-end latency, fresh subprocess each (median of {result['repeats']})"
    ratio = result["predict_keras_over_numpy"]
    note = f"  predict: NumPy fast path {ratio:.1f}x faster than Keras (median of paired ratios)"
    return "\n".join(
        [
            table(title, ["command", "median s", "min s", "max s"], rows),
            note,
            noise_note(result["other_cores"]),
        ]
    )
