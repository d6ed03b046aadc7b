"""Results of evaluate, sweep and export → rich tables (JSON dicts come from their own modules)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType


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
