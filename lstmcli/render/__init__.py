"""Results → rich tables and heatmaps for people, and → plain dicts for `--json`."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from lstmcli.analysis.inspection import InspectResult
    from lstmcli.analysis.predicting import PredictResult

SPARK = "▁▂▃▄▅▆▇█"


def stdout_console() -> Console:
    from rich.console import Console

    # Rich writes no escape codes when stdout is not a terminal, and honours NO_COLOR. Piped
    # output has no screen to fit: give wide tables (gates per unit) room instead of "…".
    con = Console(highlight=False)
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con = Console(highlight=False, width=240)
    return con


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


def output(as_json: bool, document: Callable[[], Any], tables: Callable[[], list[Any]]) -> None:
    """The one output path of every command: `--json` prints one JSON document on stdout, else
    the tables (Rich renderables or plain text) go to stdout. Each side is built only when
    it is shown."""
    if as_json:
        emit_json(document())
        return
    con = stdout_console()
    for item in tables():
        con.print(item)


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


def unit_range(total: int, spec: str | None, width: int, cell_width: int, fixed: int = 16) -> range:
    """The units a table shows: `--units A:B` (Python slice bounds), or as many as fit `width`
    columns of `cell_width` characters each (the rest are a `--units` or `--json` away)."""
    from lstmcli.errors import UsageError

    if spec is not None:
        parts = spec.split(":")
        try:
            if len(parts) == 1:
                lo, hi = int(parts[0]), int(parts[0]) + 1
            elif len(parts) == 2:
                lo = int(parts[0]) if parts[0] else 0
                hi = int(parts[1]) if parts[1] else total
            else:
                raise ValueError
        except ValueError:
            raise UsageError(f"--units: expected START:STOP (e.g. 0:8) or one unit, got {spec!r}") from None
        chosen = range(total)[lo:hi]
        if not chosen:
            raise UsageError(f"--units: expected units within 0:{total}, got {spec!r}")
        return chosen
    fit = max(1, (width - fixed) // cell_width)
    return range(min(total, fit))


def _one_line(text: str, limit: int) -> str:
    text = text.replace("\n", "⏎").replace("\t", "⇥")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _units_note(shown: range, total: int) -> str | None:
    if len(shown) == total:
        return None
    return (
        f"[dim]units {shown.start}–{shown.stop - 1} of {total} shown: --units A:B for others "
        "(e.g. --units 0:8), --json for all[/]"
    )


def inspect_tables(  # noqa: C901 - to split (issue 21), module busy this round
    r: InspectResult, precision: int, *, width: int = 240, units: str | None = None
) -> list[RenderableType]:
    from rich.table import Table

    items: list[RenderableType] = []
    # Row labels on one line, and short: a 32-character window would crowd out the units.
    labels = [_one_line(r.sep.join(toks), 24) for toks in r.inputs]
    label_width = max([len(label) for label in labels] + [8]) + 3
    shown = unit_range(r.units, units, width, precision + 6, label_width + (8 if r.return_sequences else 0))
    # A vocabulary wider than the screen: the hot index instead of a column per token.
    compact = 14 + sum(max(len(v), 1) + 3 for v in r.vocab) > width
    items.append(
        f"[bold]{r.cell.upper()}[/] layer {r.layer} of {r.num_layers} · {r.units} units · "
        f"weights from {r.source} · engine {r.engine}"
    )
    items.append(f"[bold]input[/] {shape_text(shape_of(r.x))}  (one-hot, rows = timesteps)")
    for label, toks, x in zip(labels, r.inputs, r.x, strict=True):
        t = Table(title=f"{label!r}", title_justify="left")
        t.add_column("t", justify="right")
        t.add_column("token")
        if compact:
            t.add_column(f"hot index (of {len(r.vocab)})", justify="right")
            for step, (tok, row) in enumerate(zip(toks, x, strict=True)):
                t.add_row(str(step), repr(tok), str(int(np.argmax(row))) if row.any() else "none")
        else:
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
        for u in shown:
            t.add_column(f"unit {u}", justify="right")
        for label, toks, a in zip(labels, r.inputs, arrays, strict=True):
            a = a[..., shown.start : shown.stop]
            if a.ndim == 2:
                for step, row in enumerate(a):
                    t.add_row(
                        label if step == 0 else "", f"{step} {toks[step]}", *(_fmt(v, precision) for v in row)
                    )
            else:
                t.add_row(label, *(_fmt(v, precision) for v in a))
        return t

    note = _units_note(shown, r.units)

    if note:
        items.append(note)
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

    items: list[RenderableType] = []
    for item in r.items:
        ranked = [(repr(tok), p) for tok, p in item.top]
        items.append(_ranked_table(f"next token after {item.text!r}", "token", ranked, precision))
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


# ---------------------------------------------------------------- gates and heatmaps


def _diverging(v: float) -> str:
    """Blue (-1) … white (0) … red (+1): for h, c and g, which live in [-1, 1]."""
    v = max(-1.0, min(1.0, float(v)))
    fade = int(255 * (1 - abs(v)))
    rgb = (255, fade, fade) if v >= 0 else (fade, fade, 255)
    return f"black on rgb({rgb[0]},{rgb[1]},{rgb[2]})"


def _sequential(v: float) -> str:
    """White (0) … green (1): for the sigmoid gates i, f, o (z, r), which live in [0, 1]."""
    v = max(0.0, min(1.0, float(v)))
    fade = int(255 * (1 - v))
    return f"black on rgb({fade},{255 - int(90 * v)},{fade})"


GATE_SCALE = {
    "i": _sequential,
    "f": _sequential,
    "o": _sequential,
    "z": _sequential,
    "r": _sequential,
    "g": _diverging,
    "c": _diverging,
    "h": _diverging,
}


def gate_tables(  # noqa: C901 - to split (issue 21), module busy this round
    r: InspectResult, precision: int, *, width: int = 240, units: str | None = None
) -> list[RenderableType]:
    """Per sequence: one row per timestep (token, then every gate and state per unit), coloured
    on a sequential scale for gates in [0, 1] and a diverging one for values in [-1, 1]; then a
    heatmap of h and c over time × units."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    items: list[RenderableType] = []
    if not r.steps:
        return items
    keys = [k for k in r.steps[0][0] if k != "token" and r.steps[0][0][k] is not None]
    from lstmcli.model.cell import CELLS

    spec = CELLS[r.cell]
    legend = spec.equations
    items.append(f"[bold]gates and states per timestep[/] ({r.cell}, layer {r.layer}): {legend}")
    if not spec.has_cell_state:
        items.append(f"{r.cell} has no cell state: c is null")
    shown = unit_range(r.units, units, width, len(keys) * (precision + 5), 14)
    note = _units_note(shown, r.units)
    if note:
        items.append(note)
    # The heatmaps have units as rows: every unit fits, unless --units picks some.
    heat_units = unit_range(r.units, units, 1 << 30, 1)
    for toks, steps in zip(r.inputs, r.steps, strict=True):
        label = r.sep.join(toks)
        t = Table(title=f"{label!r}: gates", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
        t.add_column("t", justify="right")
        t.add_column("token")
        for k in keys:
            for u in shown:
                t.add_column(f"{k}{u}", justify="right")
        for n, step in enumerate(steps):
            cells: list[Any] = [str(n), step["token"]]
            for k in keys:
                for v in step[k][shown.start : shown.stop]:
                    cells.append(Text(_fmt(v, precision), style=GATE_SCALE.get(k, _diverging)(v)))
            t.add_row(*cells)
        items.append(t)
        for k in ("h", "c"):
            if k not in keys:
                continue
            hm = Table(
                title=f"{label!r}: {k} over time × units (blue -1 … white 0 … red +1)",
                title_justify="left",
                show_lines=False,
            )
            hm.add_column("unit")
            for n, step in enumerate(steps):
                hm.add_column(f"{n} {step['token']}", justify="right")
            for u in heat_units:
                hm.add_row(
                    str(u), *(Text(_fmt(step[k][u], 2), style=_diverging(step[k][u])) for step in steps)
                )
            items.append(hm)
    return items


def verify_line(v: dict[str, Any]) -> str:
    status = "[green]ok[/]" if v["ok"] else "[red]ABOVE TOLERANCE[/]"
    return (
        f"verify: largest difference NumPy vs Keras {v['max_abs_diff']:.3e} "
        f"(tolerance {v['tolerance']:.0e} absolute or relative): {status}"
    )


# ---------------------------------------------------------------- runs and compare

RUN_KEYS = (
    "model.cell",
    "model.units",
    "model.num_layers",
    "train.epochs",
    "train.batch_size",
    "train.learning_rate",
    "seed",
)


def runs_json(found: list[Any]) -> dict[str, Any]:
    return {
        "runs": [
            {
                "name": r.name,
                "path": str(r.path),
                "started": r.started,
                "config": {k: r.config.get(k) for k in RUN_KEYS},
                "metrics": r.metrics,
                "running": r.running,  # another process holds the run's lock: training now
                "pid": r.running_pid,
            }
            for r in found
        ]
    }


def runs_table(found: list[Any], root: Any) -> RenderableType:
    from rich.table import Table

    t = Table(title=f"runs under {root} ({len(found)})", title_justify="left")
    t.add_column("run")
    t.add_column("started")
    t.add_column("status")
    for k in RUN_KEYS:
        t.add_column(k.split(".")[-1], justify="right")
    # A classifier's per-label numbers (val_f1_pos, …) stay in --json and metrics.json; its
    # macro F1 stands for them here.
    per_label = ("precision_", "recall_", "f1_", "val_precision_", "val_recall_", "val_f1_")
    names = sorted({m for r in found for m in r.metrics if not m.startswith(per_label)})
    for m in names:
        t.add_column(m, justify="right")
    for r in found:
        t.add_row(
            r.name,
            (r.started or "")[:19].replace("T", " "),
            f"running (pid {r.running_pid})" if r.running else ("done" if r.record else "stopped"),
            *(str(r.config.get(k, "")) for k in RUN_KEYS),
            *(f"{r.metrics[m]:.4f}" if m in r.metrics else "" for m in names),
        )
    return t


def _val(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def compare_tables(result: dict[str, Any], all_keys: bool) -> list[RenderableType]:
    from rich.markup import escape
    from rich.table import Table

    cfg = Table(title="config", title_justify="left")
    cfg.add_column("key")
    cfg.add_column(f"A {result['a']}")
    cfg.add_column(f"B {result['b']}")
    same = 0
    for row in result["config"]:
        if not row["differs"] and not all_keys:
            same += 1
            continue
        style = "bold yellow" if row["differs"] else ""
        marker = " ≠" if row["differs"] else ""
        cfg.add_row(row["key"] + marker, escape(_val(row["a"])), escape(_val(row["b"])), style=style)
    met = Table(title="metrics", title_justify="left")
    met.add_column("metric")
    met.add_column("A", justify="right")
    met.add_column("B", justify="right")
    met.add_column("B - A", justify="right")
    for row in result["metrics"]:
        d = row["delta"]
        met.add_row(
            row["name"],
            _val(row["a"]),
            _val(row["b"]),
            "" if d is None else f"{d:+.6g}",
            style="bold yellow" if d else "",
        )
    items: list[RenderableType] = [cfg]
    if same and not all_keys:
        items.append(f"({same} config keys are the same; --all shows them)")
    items.append(met)
    return items


class TrainProgress:
    """Training progress on a terminal (stderr): the epoch, the steps done of it, tokens/s, the
    time left in the epoch, and the latest metrics. An epoch over a real corpus takes minutes,
    so the bar moves with every step, not only between epochs."""

    _SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy")

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps · {task.fields[rate]} tokens/s ·"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            transient=True,
        )
        self._task: Any = None
        self._last: dict[str, float] = {}

    def epoch_begin(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task("train", total=steps, epoch="", rate="–", metrics="")
        # reset() replaces every field when given any, so the epoch is set apart from it.
        self._bar.reset(self._task, total=steps, completed=done)
        self._bar.update(self._task, epoch=f"{epoch + 1}/{epochs}")
        self._show(self._last)

    def step(self, done: int, tokens_per_second: float, shown: dict[str, float]) -> None:
        self._bar.update(self._task, completed=done, rate=f"{tokens_per_second:,.0f}")

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        self._last = row
        self._show(row)

    def _show(self, row: dict[str, float]) -> None:
        text = " ".join(f"{k}={row[k]:.4f}" for k in self._SHOWN if k in row)
        self._bar.update(self._task, metrics=text)

    def close(self) -> None:
        if self._task is not None:
            self._bar.stop()


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def print_errors(message: str, limit: int | None) -> None:
    """`Error: …` lines on stderr, at most `limit` of them, then how many more were left out."""
    from rich.markup import escape

    con = stderr_console()
    # Messages quoting other libraries (Keras) may carry colour codes: never pass them on.
    lines = [_ANSI.sub("", line) for line in message.splitlines()] or [""]
    shown = lines if limit is None or len(lines) <= limit else lines[:limit]
    for line in shown:
        con.print(f"[bold red]Error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if len(shown) < len(lines):
        more = len(lines) - len(shown)
        con.print(f"… and {more} more error{'s' if more > 1 else ''}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- task: classify


def label_json(r: Any) -> dict[str, Any]:
    """`predict --json` on a classifier: results[{input, tokens, label, labels[{label, probability}]}]."""
    return {
        "run_dir": r.run_dir,
        "engine": r.engine,
        "results": [
            {
                "input": item.text,
                "tokens": item.tokens,
                "label": item.labels[0][0],
                "labels": [{"label": name, "probability": p} for name, p in item.labels],
            }
            for item in r.items
        ],
    }


def label_tables(r: Any, precision: int) -> list[RenderableType]:
    return [
        _ranked_table(f"label of {_one_line(item.text, 60)!r}", "label", item.labels, precision)
        for item in r.items
    ]


def _ranked_table(title: str, what: str, ranked: list[tuple[str, float]], precision: int) -> RenderableType:
    """Rank, name, probability and a bar: predict's next tokens and a classifier's labels."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    t.add_column("rank", justify="right")
    t.add_column(what)
    t.add_column("probability", justify="right")
    t.add_column("")
    for rank, (name, p) in enumerate(ranked, 1):
        t.add_row(str(rank), name, _fmt(p, precision), "█" * int(round(p * 20)))
    return t


def classify_json(rep: dict[str, Any]) -> dict[str, Any]:
    """`train --json`'s `classification` key: per-label metrics and the confusion matrix."""
    return {
        "split": rep["split"],
        "examples": rep["examples"],
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "per_label": rep["per_label"],
        "confusion": {"labels": rep["labels"], "matrix": rep["matrix"]},
    }


def classify_tables(rep: dict[str, Any]) -> list[RenderableType]:
    """Per-label precision / recall / F1, and the confusion matrix (rows: true, columns: predicted)."""
    from rich.table import Table

    t = Table(title=f"per label ({rep['split']} split, {rep['examples']} examples)", title_justify="left")
    for name, justify in (("label", "left"), ("precision", "right"), ("recall", "right"), ("f1", "right")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    t.add_column("support", justify="right")
    for p in rep["per_label"]:
        t.add_row(
            p["label"], f"{p['precision']:.4f}", f"{p['recall']:.4f}", f"{p['f1']:.4f}", str(p["support"])
        )
    t.add_row("[dim]macro[/]", "", "", f"{rep['macro_f1']:.4f}", str(rep["examples"]))
    c = Table(title="confusion (rows: true label, columns: predicted)", title_justify="left")
    c.add_column("true \\ predicted")
    for name in rep["labels"]:
        c.add_column(name, justify="right")
    for i, (name, row) in enumerate(zip(rep["labels"], rep["matrix"], strict=True)):
        c.add_row(name, *(f"[bold]{v}[/]" if i == j else str(v) for j, v in enumerate(row)))
    return [t, c]


# ---------------------------------------------------------------- evaluate, sweep, export


def requirement_rows(reqs: list[Any], metrics: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {
            "requirement": r.text,
            "metric": r.metric,
            "value": metrics.get(r.metric),
            "met": r.metric in metrics and r.holds(metrics[r.metric]),
        }
        for r in reqs
    ]


def evaluation_table(e: Any) -> RenderableType:
    from rich.table import Table

    t = Table(
        title=f"evaluate: {e.data}",
        caption=f"{e.windows:,} windows, {e.tokens:,} tokens, stride {e.eval_stride}",
        title_justify="left",
    )
    t.add_column("metric")
    t.add_column("value", justify="right")
    for name, value in e.metrics.items():
        t.add_row(name, f"{value:.4f}")
    return t


def sweep_table(summary: dict[str, Any]) -> RenderableType:
    from rich.table import Table

    metric = summary["objective"]["metric"]
    best = (summary.get("best") or {}).get("name")
    t = Table(title=f"sweep {summary['dir']} (objective {metric}:{summary['objective']['mode']})")
    keys = summary["keys"]
    t.add_column("point")
    for k in keys:
        t.add_column(k.split(".")[-1], justify="right")
    t.add_column("status")
    t.add_column("epochs", justify="right")
    t.add_column(metric, justify="right")
    for p in summary["points"]:
        value = p["metrics"].get(metric)
        name = f"[bold]{p['name']}[/] ★" if p["name"] == best else p["name"]
        t.add_row(
            name,
            *[_short(p["values"].get(k)) for k in keys],
            p["status"],
            str(p.get("epochs", "")),
            f"{value:.4f}" if isinstance(value, int | float) else "",
        )
    return t


def export_table(result: dict[str, Any]) -> RenderableType:
    from rich.table import Table

    t = Table(title=f"exported {result['format']} → {result['out']}", title_justify="left")
    t.add_column("key")
    t.add_column("value")
    for key in ("format", "out", "bytes", "variable_length"):
        t.add_row(key, str(result.get(key)))
    if result.get("verify") is not None:
        v = result["verify"]
        t.add_row(
            "verify", f"max |Δp| {v['max_abs_diff']:.2e} on {v['sequences']} sequences ({v['runtime']})"
        )
    return t


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
