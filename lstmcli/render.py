"""Results → rich tables and heatmaps for people, and → plain dicts for `--json`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from lstmcli.inspection import InspectResult
    from lstmcli.predicting import PredictResult

SPARK = "▁▂▃▄▅▆▇█"


def stdout_console() -> Console:
    from rich.console import Console

    # Rich writes no escape codes when stdout is not a terminal, and honours NO_COLOR.
    return Console(highlight=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


def to_list(a: Any) -> Any:
    """NumPy arrays (or lists of them) → nested lists of Python floats for JSON."""
    if a is None:
        return None
    if isinstance(a, np.ndarray):
        return a.tolist()
    if isinstance(a, (list, tuple)):
        return [to_list(x) for x in a]
    if isinstance(a, np.generic):
        return a.item()
    return a


def shape_of(arrays: Sequence[np.ndarray] | None) -> list[int | None] | None:
    """Shape of a batch stored as a list of per-sequence arrays; None marks a ragged axis."""
    if arrays is None:
        return None
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1:
        return [len(arrays), *next(iter(shapes))]
    first = next(iter(shapes))
    dims: list[int | None] = [len(arrays)]
    for axis in range(len(first)):
        sizes = {s[axis] for s in shapes}
        dims.append(sizes.pop() if len(sizes) == 1 else None)
    return dims


def shape_text(shape: Sequence[int | None] | None) -> str:
    if shape is None:
        return "none"
    return "(" + ", ".join("var" if d is None else str(d) for d in shape) + ")"


def sparkline(values: Sequence[float], width: int = 24) -> str:
    """Unicode block sparkline of a series, resampled to at most `width` points."""
    vals = [float(v) for v in values if np.isfinite(v)]
    if not vals:
        return ""
    if len(vals) > width:
        idx = np.linspace(0, len(vals) - 1, width).round().astype(int)
        vals = [vals[i] for i in idx]
    lo, hi = min(vals), max(vals)
    span = hi - lo
    if span == 0:
        return SPARK[len(SPARK) // 2] * len(vals)
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * len(SPARK)))] for v in vals)


def _fmt(v: float, precision: int) -> str:
    return f"{v:.{precision}f}"


# ---------------------------------------------------------------- inspect


def inspect_json(r: InspectResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "target": r.target,
        "source": r.source,
        "engine": r.engine,
        "cell": r.cell,
        "layer": r.layer,
        "num_layers": r.num_layers,
        "return_sequences": r.return_sequences,
        "vocab": list(r.vocab),
        "inputs": r.inputs,
        "x": to_list(r.x),
        "outputs": to_list(r.states.outputs),
        "hidden_state": to_list(r.states.hidden),
        "cell_state": to_list(r.states.cell),
        "shapes": {
            "x": shape_of(r.x),
            "outputs": shape_of(r.states.outputs),
            "hidden_state": shape_of(r.states.hidden),
            "cell_state": shape_of(r.states.cell),
        },
    }
    if r.steps is not None:
        out["steps"] = r.steps
    if r.verify is not None:
        out["verify"] = r.verify
    return out


def inspect_tables(r: InspectResult, precision: int) -> list[RenderableType]:
    from rich.table import Table

    items: list[RenderableType] = []
    labels = [r.sep.join(toks) for toks in r.inputs]
    items.append(
        f"[bold]{r.cell.upper()}[/] layer {r.layer} of {r.num_layers} · {r.units} units · "
        f"weights from {r.source} · engine {r.engine}"
    )
    items.append(f"[bold]input[/] {shape_text(shape_of(r.x))}  (one-hot, rows = timesteps)")
    for label, toks, x in zip(labels, r.inputs, r.x, strict=True):
        t = Table(title=f"{label!r}", title_justify="left")
        t.add_column("t", justify="right")
        t.add_column("token")
        for v in r.vocab:
            t.add_column(v, justify="right")
        for step, (tok, row) in enumerate(zip(toks, x, strict=True)):
            t.add_row(str(step), tok, *(f"[bold]{int(c)}[/]" if c else "0" for c in row))
        items.append(t)

    def state_table(name: str, arrays: list[np.ndarray] | None) -> RenderableType:
        if arrays is None:
            return f"[bold]{name}[/]: none ({r.cell} has no cell state)"
        t = Table(title=f"{name} {shape_text(shape_of(arrays))}", title_justify="left")
        t.add_column("sequence")
        if arrays[0].ndim == 2:  # return_sequences: one row per timestep
            t.add_column("t", justify="right")
        for u in range(r.units):
            t.add_column(f"unit {u}", justify="right")
        for label, toks, a in zip(labels, r.inputs, arrays, strict=True):
            if a.ndim == 2:
                for step, row in enumerate(a):
                    t.add_row(
                        label if step == 0 else "", f"{step} {toks[step]}", *(_fmt(v, precision) for v in row)
                    )
            else:
                t.add_row(label, *(_fmt(v, precision) for v in a))
        return t

    items.append(state_table("outputs", r.states.outputs))
    items.append(state_table("hidden state", r.states.hidden))
    items.append(state_table("cell state", r.states.cell))
    if r.return_sequences is False and r.states.outputs is not None:
        same = all(np.array_equal(o, h) for o, h in zip(r.states.outputs, r.states.hidden, strict=True))
        items.append(
            "outputs == hidden state: "
            + ("[green]yes[/] (return_sequences is false)" if same else "[red]no[/]")
        )
    return items


# ---------------------------------------------------------------- predict


def predict_json(r: PredictResult) -> dict[str, Any]:
    return {
        "run_dir": r.run_dir,
        "engine": r.engine,
        "temperature": r.temperature,
        "seed": r.seed,
        "steps": r.steps,
        "results": [
            {
                "input": item.text,
                "tokens": item.tokens,
                "next": [{"token": t, "probability": p} for t, p in item.top],
                "generated": item.generated,
                "generated_tokens": item.generated_tokens,
            }
            for item in r.items
        ],
    }


def predict_tables(r: PredictResult, precision: int) -> list[RenderableType]:
    from rich.table import Table

    items: list[RenderableType] = []
    for item in r.items:
        t = Table(title=f"next token after {item.text!r}", title_justify="left")
        t.add_column("rank", justify="right")
        t.add_column("token")
        t.add_column("probability", justify="right")
        t.add_column("")
        for rank, (tok, p) in enumerate(item.top, 1):
            t.add_row(str(rank), repr(tok), _fmt(p, precision), "█" * int(round(p * 20)))
        items.append(t)
        if r.steps:
            how = "greedy" if r.temperature == 0 else f"temperature {r.temperature}, seed {r.seed}"
            items.append(
                f"generated ({how}): {item.text}[bold]{r.sep}{item.generated}[/]"
                if r.sep
                else f"generated ({how}): {item.text}[bold]{item.generated}[/]"
            )
    return items


# ---------------------------------------------------------------- train


def metrics_table(metrics: dict[str, float], history: list[dict[str, float]]) -> RenderableType:
    from rich.table import Table

    t = Table(title="final metrics", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("first", justify="right")
    t.add_column("curve (per epoch)")
    for name, value in metrics.items():
        series = [row[name] for row in history if name in row]
        first = f"{series[0]:.4f}" if series else ""
        t.add_row(name, f"{value:.4f}", first, sparkline(series))
    return t
