"""Results → Rich tables for people: predict's next tokens and labels, train's metrics and a
classifier's report, runs, compare, evaluate, sweep and export. (Inspect's states and gates, and
units' ranking, are `render.states`; the JSON documents are `render.json_out`.)"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmcli.render import RUN_KEYS

if TYPE_CHECKING:
    from rich.console import RenderableType

    from lstmcli.analysis.predicting import PredictResult
    from lstmcli.experiments.export import ExportResult
    from lstmcli.runs import Comparison

SPARK = "▁▂▃▄▅▆▇█"


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


def fmt(v: float, precision: int) -> str:
    return f"{v:.{precision}f}"


def one_line(text: str, limit: int) -> str:
    text = text.replace("\n", "⏎").replace("\t", "⇥")
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def label_tables(r: Any, precision: int) -> list[RenderableType]:
    return [
        _ranked_table(f"label of {one_line(item.text, 60)!r}", "label", item.labels, precision)
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
        t.add_row(str(rank), name, fmt(p, precision), "█" * int(round(p * 20)))
    return t


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


# ---------------------------------------------------------------- runs and compare


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


def compare_tables(result: Comparison, all_keys: bool) -> list[RenderableType]:
    from rich.markup import escape
    from rich.table import Table

    cfg = Table(title="config", title_justify="left")
    cfg.add_column("key")
    cfg.add_column(f"A {result.a}")
    cfg.add_column(f"B {result.b}")
    same = 0
    for row in result.config:
        if not row.differs and not all_keys:
            same += 1
            continue
        style = "bold yellow" if row.differs else ""
        marker = " ≠" if row.differs else ""
        cfg.add_row(row.key + marker, escape(_val(row.a)), escape(_val(row.b)), style=style)
    met = Table(title="metrics", title_justify="left")
    met.add_column("metric")
    met.add_column("A", justify="right")
    met.add_column("B", justify="right")
    met.add_column("B - A", justify="right")
    for m in result.metrics:
        d = m.delta
        met.add_row(
            m.name,
            _val(m.a),
            _val(m.b),
            "" if d is None else f"{d:+.6g}",
            style="bold yellow" if d else "",
        )
    items: list[RenderableType] = [cfg]
    if same and not all_keys:
        items.append(f"({same} config keys are the same; --all shows them)")
    items.append(met)
    return items


# ---------------------------------------------------------------- evaluate, sweep, export


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


def sweep_table(summary: Mapping[str, Any]) -> RenderableType:
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
            *[short(p["values"].get(k)) for k in keys],
            p["status"],
            str(p.get("epochs", "")),
            f"{value:.4f}" if isinstance(value, int | float) else "",
        )
    return t


def export_table(result: ExportResult) -> RenderableType:
    from rich.table import Table

    t = Table(title=f"exported {result.format} → {result.out}", title_justify="left")
    t.add_column("key")
    t.add_column("value", overflow="fold")  # a long path folds onto more lines, never "…"
    for key in ("format", "out", "bytes", "variable_length"):
        t.add_row(key, str(getattr(result, key)))
    v = result.verify
    if v is not None:
        t.add_row("verify", f"max |Δp| {v.max_abs_diff:.2e} on {v.sequences} sequences ({v.runtime})")
    return t


def short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
