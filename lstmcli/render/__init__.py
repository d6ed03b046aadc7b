"""Results → rich tables and heatmaps for people, and → plain dicts for `--json`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
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


def output(
    as_json: bool, document: Callable[[], Any], tables: Callable[[], list[Any]], *, wide: bool = False
) -> None:
    """The one output path of every command: `--json` prints one JSON document on stdout, else
    the tables (Rich renderables or plain text) go to stdout. Each side is built only when
    it is shown. `wide`: tables take the room they need, wider than the terminal if need be."""
    if as_json:
        emit_json(document())
        return
    con = stdout_console()
    for item in tables():
        if wide and not isinstance(item, str):
            from rich.measure import Measurement

            room = con.options.update_width(1 << 16)
            con.width = max(con.width, Measurement.get(con, room, item).maximum)
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


def inspect_tables(
    r: InspectResult, precision: int, *, width: int = 240, units: str | None = None
) -> list[RenderableType]:
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
        items.append(_input_table(label, toks, x, r.vocab, compact))

    note = _units_note(shown, r.units)

    if note:
        items.append(note)
    for name, arrays in (
        ("outputs", r.states.outputs),
        ("hidden state", r.states.hidden),
        ("cell state", r.states.cell),
    ):
        items.append(_state_table(r, labels, shown, precision, name, arrays))
    if r.return_sequences is False and r.states.outputs is not None:
        same = all(np.array_equal(o, h) for o, h in zip(r.states.outputs, r.states.hidden, strict=True))
        items.append(
            "outputs == hidden state: "
            + ("[green]yes[/] (return_sequences is false)" if same else "[red]no[/]")
        )
    return items


def _input_table(
    label: str, toks: list[str], x: np.ndarray, vocab: tuple[str, ...], compact: bool
) -> RenderableType:
    """One sequence's one-hot input: a column per token, or (compact) the hot index."""
    from rich.table import Table

    t = Table(title=f"{label!r}", title_justify="left")
    t.add_column("t", justify="right")
    t.add_column("token")
    if compact:
        t.add_column(f"hot index (of {len(vocab)})", justify="right")
        for step, (tok, row) in enumerate(zip(toks, x, strict=True)):
            t.add_row(str(step), repr(tok), str(int(np.argmax(row))) if row.any() else "none")
    else:
        for v in vocab:
            t.add_column(v, justify="right")
        for step, (tok, row) in enumerate(zip(toks, x, strict=True)):
            t.add_row(str(step), tok, *(f"[bold]{int(c)}[/]" if c else "0" for c in row))
    return t


def _state_table(
    r: InspectResult,
    labels: list[str],
    shown: range,
    precision: int,
    name: str,
    arrays: list[np.ndarray] | None,
) -> RenderableType:
    """One state (outputs, hidden, cell) of every sequence, for the shown units."""
    from rich.table import Table

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


LONG_UNITS = 8
"""Units `inspect --gates` shows by default when they do not fit side by side (`--units` pages)."""

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


def _gate_cell(key: str, v: float, precision: int) -> Any:
    from rich.text import Text

    return Text(_fmt(v, precision), style=GATE_SCALE.get(key, _diverging)(v))


def gate_tables(
    r: InspectResult, precision: int, *, width: int = 240, units: str | None = None
) -> list[RenderableType]:
    """Per sequence: one row per timestep (token, then every gate and state per unit), coloured
    on a sequential scale for gates in [0, 1] and a diverging one for values in [-1, 1]; then a
    heatmap of h and c over time × units."""
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
    items.append("heatmaps of h and c: blue -1 … white 0 … red +1")
    token_width = max(len(step["token"]) for steps in r.steps for step in steps)
    fixed = 3 + max(token_width, 5) + 3
    side = unit_range(r.units, units, width, len(keys) * (precision + 6), fixed)
    wanted = unit_range(r.units, units, 1 << 30, 1)
    # Units side by side when all wanted fit the width; else one row per timestep and unit
    # (as wide as one unit), for up to LONG_UNITS units unless --units asks for more.
    long = len(side) < len(wanted)
    shown = wanted if not long or units is not None else wanted[:LONG_UNITS]
    note = _units_note(shown, r.units)
    if note:
        items.append(note)
    # The heatmaps have units as rows: every unit fits, unless --units picks some.
    heat_units = wanted
    # As many timesteps as fit the width; the rest are said, not squeezed into "…".
    fit = max(1, (width - 8) // (max(5, token_width + 2) + 3))
    for toks, steps in zip(r.inputs, r.steps, strict=True):
        label = r.sep.join(toks)
        items.append(_gate_table(label, steps, keys, shown, long, precision))
        for k in ("h", "c"):
            if k in keys:
                items.append(_heatmap(label, steps, k, heat_units, fit))
    return items


def _gate_table(
    label: str, steps: list[Any], keys: list[str], shown: range, long: bool, precision: int
) -> RenderableType:
    """One sequence's gates and states per timestep: the shown units side by side, or (long)
    one row per timestep and unit."""
    from rich import box
    from rich.table import Table

    t = Table(title=f"{label!r}: gates", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    t.add_column("t", justify="right")
    t.add_column("token")
    if long:
        t.add_column("unit", justify="right")
    for k in keys:
        for u in [None] if long else shown:
            t.add_column(k if u is None else f"{k}{u}", justify="right")
    for n, step in enumerate(steps):
        if long:
            for i, u in enumerate(shown):
                t.add_row(
                    str(n) if i == 0 else "",
                    step["token"] if i == 0 else "",
                    str(u),
                    *(_gate_cell(k, step[k][u], precision) for k in keys),
                    end_section=i == len(shown) - 1 and len(shown) > 1,
                )
            continue
        cells: list[Any] = [str(n), step["token"]]
        for k in keys:
            for v in step[k][shown.start : shown.stop]:
                cells.append(_gate_cell(k, v, precision))
        t.add_row(*cells)
    return t


def _heatmap(label: str, steps: list[Any], k: str, heat_units: range, fit: int) -> RenderableType:
    """One sequence's h or c over its first `fit` timesteps, a row per unit."""
    from rich.table import Table
    from rich.text import Text

    hm = Table(
        title=f"{label!r}: {k} over time",
        title_justify="left",
        caption=f"timesteps 0–{fit - 1} of {len(steps)} shown (a wider terminal, or --json, has the rest)"
        if fit < len(steps)
        else None,
        caption_justify="left",
        show_lines=False,
    )
    hm.add_column("unit")
    for n, step in enumerate(steps[:fit]):
        hm.add_column(f"{n} {step['token']}", justify="right")
    for u in heat_units:
        hm.add_row(
            str(u),
            *(Text(_fmt(step[k][u], 2), style=_diverging(step[k][u])) for step in steps[:fit]),
        )
    return hm


def verify_line(v: dict[str, Any]) -> str:
    status = "[green]ok[/]" if v["ok"] else "[red]ABOVE TOLERANCE[/]"
    return (
        f"verify: largest difference NumPy vs Keras {v['max_abs_diff']:.3e} "
        f"(tolerance {v['tolerance']:.0e} absolute or relative): {status}"
    )


# ---------------------------------------------------------------- units


def units_tables(r: Any, top: int) -> list[RenderableType]:
    """`units`: the ranked (unit, state) table, then the top unit's trace as a coloured strip
    over the text (one background per token: the gate scale for gates, blue … red for states,
    scaled to the largest |value| shown). On a pipe or under NO_COLOR the strip is plain text."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    f = r.feature
    metric = "AUC" if f.metric == "auc" else "r"
    held = f", {r.positives:,} inside" if r.positives is not None else ""
    # Text, not markup: a regex such as [^"]* must show as itself.
    seqs = f"{r.sequences:,} sequence{'s' if r.sequences != 1 else ''}"
    heading = Text(
        f"units of {r.cell} layer {r.layer} ranked by {f.describe()} ({r.tokens:,} tokens in {seqs}{held})"
    )
    t = Table(box=box.SIMPLE_HEAD)
    t.add_column("rank", justify="right")
    t.add_column("unit", justify="right")
    t.add_column("state")
    t.add_column(metric, justify="right")
    for n, s in enumerate(r.ranked[:top]):
        t.add_row(str(n + 1), str(s.unit), s.state, f"{s.score:+.3f}" if metric == "r" else f"{s.score:.3f}")
    best = r.ranked[0]
    gate = best.state in ("i", "f", "o", "z", "r")
    span = max((abs(v) for v in r.strip_values), default=1.0) or 1.0
    strip = Text()
    for tok, v, x in zip(r.strip_tokens, r.strip_values, r.strip_feature, strict=True):
        style = _sequential(v) if gate else _diverging(v / span)
        if f.binary and x > 0:
            style += " underline"  # the tokens inside a match
        shown = "↵" if tok == "\n" else tok
        strip.append(shown, style=style)
        strip.append("\n" if tok == "\n" else r.sep)
    scale = "white 0 … green 1" if gate else f"blue {-span:.3g} … white 0 … red {span:.3g}"
    more = "" if len(r.strip_tokens) >= r.tokens else f", the first {len(r.strip_tokens)} tokens"
    marked = "; matches underlined" if f.binary else ""
    head = f"unit {best.unit} {best.state} over {r.source}{more} ({scale}{marked}):"
    return [heading, t, Text(head), strip]


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


def _headline(metrics: dict[str, float]) -> str | None:
    """The one number a run is judged by: validation loss if it has one, else test, else train."""
    return next((m for m in ("val_loss", "test_loss", "loss") if m in metrics), None)


def runs_table(found: list[Any], root: Any, width: int | None = None) -> RenderableType:
    """Runs as rows. Name, status, epochs and the headline metric always, in full; then as many
    more columns as fit `width` (None: every column, `runs --wide`)."""
    from rich.table import Table

    def status(r: Any) -> str:
        return f"running (pid {r.running_pid})" if r.running else ("done" if r.record else "stopped")

    def epochs(r: Any) -> str:
        done = r.state.get("epoch") if getattr(r, "state", None) else None
        total = r.config.get("train.epochs", "")
        return f"{done}/{total}" if done is not None and done != total else str(total)

    order = ("val_loss", "test_loss", "loss")
    headline = sorted({h for r in found if (h := _headline(r.metrics))}, key=order.index)
    # A classifier's per-label numbers (val_f1_pos, …) stay in --json and metrics.json; its
    # macro F1 stands for them here.
    per_label = ("precision_", "recall_", "f1_", "val_precision_", "val_recall_", "val_f1_")
    others = sorted({m for r in found for m in r.metrics if not m.startswith(per_label)} - set(headline))
    others.sort(key=lambda m: (m.removeprefix("val_").removeprefix("test_") != "accuracy", m))

    def metric(m: str) -> Callable[[Any], str]:
        return lambda r: f"{r.metrics[m]:.4f}" if m in r.metrics else ""

    def key(k: str) -> Callable[[Any], str]:
        return lambda r: str(r.config.get(k, ""))

    # (header, cell, right-aligned), most wanted first: the first four are always shown.
    columns: list[tuple[str, Callable[[Any], str], bool]] = [
        ("run", lambda r: r.name, False),
        ("status", status, False),
        ("epochs", epochs, True),
        *((m, metric(m), True) for m in headline),
        *((m, metric(m), True) for m in others if m.removeprefix("val_").removeprefix("test_") == "accuracy"),
        ("started", lambda r: (r.started or "")[:16].replace("T", " "), False),
        *((k.split(".")[-1], key(k), True) for k in RUN_KEYS if k != "train.epochs"),
        *((m, metric(m), True) for m in others if m.removeprefix("val_").removeprefix("test_") != "accuracy"),
    ]
    must = 3 + len(headline)
    shown, used, left_out = [], 4, []  # a table's outer border and padding
    for n, (name, cell, right) in enumerate(columns):
        need = max([len(name), *(len(cell(r)) for r in found)]) + 3
        if n < must or width is None or used + need <= width:
            shown.append((name, cell, right))
            used += need
        else:
            left_out.append(name)
    t = Table(
        title=f"runs under {root} ({len(found)})",
        title_justify="left",
        caption=f"not shown: {', '.join(left_out)} (--wide shows every column, --json everything)"
        if left_out
        else None,
        caption_justify="left",
    )
    for name, _, right in shown:
        t.add_column(name, justify="right" if right else "left", no_wrap=True)
    for r in found:
        t.add_row(*(cell(r) for _, cell, _ in shown))
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
    """Training progress on a terminal (stderr), one line: the epoch, the step of it, tokens/s,
    the time left in the whole run, and the running loss of the epoch (then the last epoch's
    validation loss). Validation is a phase of its own with its own bar. The bar is transient:
    it is erased when training ends, however it ends (a Ctrl-C included)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.table import Column

        class _Progress(Progress):
            # Three columns short of the terminal's width: the "^C" the terminal echoes when
            # Ctrl-C is typed then lands on the bar's own line (which is erased) instead of
            # wrapping the cursor onto a new line, which would leave the bar on the screen.
            def get_renderable(self) -> Any:
                from rich.constrain import Constrain

                return Constrain(super().get_renderable(), width=max(20, console.width - 3))

        self._bar = _Progress(
            # One line, always: a column that does not fit is cut, never wrapped onto a second
            # line (the bar shrinks first, down to nothing).
            TextColumn("{task.fields[phase]}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(no_wrap=True, ratio=1)),
            TextColumn("{task.fields[steps]} ·{task.fields[rate]}", table_column=Column(no_wrap=True)),
            TimeRemainingColumn(compact=True, table_column=Column(no_wrap=True)),
            TextColumn("left{task.fields[metrics]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=console,
            transient=True,
            expand=True,
        )
        self._train: Any = None
        self._val: Any = None
        self._epoch = ""
        self._steps = 0
        self._last: dict[str, float] = {}

    def epoch_begin(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        self._epoch, self._steps = f"{epoch + 1}/{epochs}", steps
        fields: dict[str, Any] = {"phase": f"epoch {self._epoch}", "steps": f"step {done}/{steps}"}
        if self._train is None:
            # The bar spans the whole run, so the time left is the run's; a resumed run starts
            # where it was (a task created there, so the jump is not taken for speed).
            self._bar.start()
            self._train = self._bar.add_task(
                "train",
                total=epochs * steps,
                completed=epoch * steps + done,
                rate=" – tokens/s ·",
                metrics="",
                **fields,
            )
        else:
            self._bar.update(self._train, total=epochs * steps, visible=True, **fields)
        if self._val is not None:
            self._bar.update(self._val, visible=False)
        self._show()

    def step(self, done: int, tokens_per_second: float, shown: dict[str, float]) -> None:
        epoch = int(self._epoch.split("/")[0]) - 1
        self._bar.update(
            self._train,
            completed=epoch * self._steps + done,
            steps=f"step {done}/{self._steps}",
            rate=f" {tokens_per_second:,.0f} tokens/s ·",
        )
        self._show(shown)

    def validate_step(self, done: int, total: int) -> None:
        """Validation after the epoch's training steps: a phase (and bar) of its own."""
        fields: dict[str, Any] = {
            "phase": f"epoch {self._epoch} validation",
            "steps": f"batch {done}/{total}",
        }
        if self._val is None:
            self._val = self._bar.add_task(
                "validate", total=total, completed=done, rate="", metrics="", **fields
            )
        elif done == 0:
            self._bar.reset(self._val, total=total, completed=0)
            self._bar.update(self._val, visible=True, **fields)  # reset() drops the fields
        else:
            self._bar.update(self._val, completed=done, **fields)
        self._bar.update(self._train, visible=False)

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        self._last = row
        self._show()

    def _show(self, running: dict[str, float] | None = None) -> None:
        parts = []
        if running and "loss" in running:
            parts.append(f"loss {running['loss']:.4f}")
        elif "loss" in self._last:
            parts.append(f"loss {self._last['loss']:.4f}")
        # The validation loss when there is room: at 80 columns the bar keeps its place.
        if "val_loss" in self._last and self._bar.console.width >= 100:
            parts.append(f"val_loss {self._last['val_loss']:.4f}")
        self._bar.update(self._train, metrics="".join(f" · {p}" for p in parts))

    def close(self) -> None:
        if self._train is not None:
            self._bar.stop()


@contextlib.contextmanager
def working(message: str, show: bool, after: float = 1.0) -> Iterator[None]:
    """A spinner with `message` on stderr while the block runs, if it runs longer than `after`
    seconds and `show` (a terminal, not --quiet, not --json); erased when the block ends."""
    if not show:
        yield
        return
    import threading

    status = stderr_console().status(message)
    lock = threading.Lock()
    started = False

    def start() -> None:
        nonlocal started
        with lock:
            if not done.is_set():
                status.start()
                started = True

    done = threading.Event()
    timer = threading.Timer(after, start)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            done.set()
            timer.cancel()
            if started:
                status.stop()


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
    t.add_column("value", overflow="fold")  # a long path folds onto more lines, never "…"
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


# ---------------------------------------------------------------- sweep progress (issue 17)


def _settings(values: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in values.items())


def sweep_best_text(doc: dict[str, Any]) -> str:
    """`best so far: NAME (val_loss 1.2345)`, or that none has finished yet."""
    best = doc.get("best")
    metric = doc["objective"]["metric"]
    if not best:
        return "best so far: none finished yet"
    value = best["metrics"].get(metric)
    shown = f"{value:.4f}" if isinstance(value, int | float) else "?"
    names = [p["name"] for p in doc["points"]]
    which = f"trial {names.index(best['name']) + 1}" if best["name"] in names else best["name"]
    return f"best so far: {which}, {metric} {shown}"  # the trial's number: its name is long


def sweep_trial_line(doc: dict[str, Any], name: str) -> str:
    """Which trial of how many, its settings, and the best so far (printed before a trial)."""
    names = [p["name"] for p in doc["points"]]
    index = names.index(name) + 1 if name in names else len(names) + 1
    values: dict[str, Any] = next((p["values"] for p in doc["points"] if p["name"] == name), {})
    return f"trial {index}/{doc['trials']} · {_settings(values)} · {sweep_best_text(doc)}"


class SweepProgress:
    """A sweep with worker processes, on a terminal (stderr): one bar for the trials done of the
    total and the best so far, one bar per running trial (its number, settings, epochs), and a
    line for each trial as it ends."""

    def __init__(self, console: Console, epochs: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._epochs = epochs
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=True,
        )
        self._sweep: Any = None
        self._tasks: dict[str, Any] = {}
        self._ended: set[str] = set()

    def update(self, doc: dict[str, Any]) -> None:
        from rich.markup import escape

        if self._sweep is None:
            self._bar.start()
            self._sweep = self._bar.add_task("sweep", total=doc["trials"], unit="trials", note="")
        done = [p for p in doc["points"] if p["status"] in ("finished", "pruned", "failed")]
        self._bar.update(self._sweep, completed=len(done), note=escape(sweep_best_text(doc)))
        metric = doc["objective"]["metric"]
        for i, p in enumerate(doc["points"], 1):
            name = p["name"]
            label = escape(f"trial {i}/{doc['trials']} {_settings(p['values'])}")
            if p["status"] == "running":
                if name not in self._tasks:
                    self._tasks[name] = self._bar.add_task(label, total=self._epochs, unit="epochs", note="")
                value = p["metrics"].get(metric)
                note = f"{metric} {value:.4f}" if isinstance(value, int | float) else ""
                self._bar.update(self._tasks[name], completed=p["epochs"], note=note)
                continue
            if name in self._tasks:
                self._bar.remove_task(self._tasks.pop(name))
            if p["status"] in ("finished", "pruned", "failed") and name not in self._ended:
                self._ended.add(name)
                value = p["metrics"].get(metric)
                shown = f" · {metric} {value:.4f}" if isinstance(value, int | float) else ""
                self._bar.console.print(
                    f"trial {i}/{doc['trials']} {p['status']}: {name}{shown}", highlight=False, markup=False
                )

    def note(self, line: str) -> None:
        self._bar.console.print(line, highlight=False, markup=False)

    def close(self) -> None:
        if self._sweep is not None:
            self._bar.stop()
