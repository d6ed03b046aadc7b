"""Inspect's and units' views of a layer's insides as Rich tables: the one-hot inputs and the
states, every gate per timestep on its colour scale, heatmaps of h and c, and units' ranking with
the top unit's trace over the text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lstmcli.render import shape_of
from lstmcli.render.tables import fmt, one_line, shape_text

if TYPE_CHECKING:
    from rich.console import RenderableType

    from lstmcli.analysis.inspection import InspectResult


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
    labels = [one_line(r.sep.join(toks), 24) for toks in r.inputs]
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
                    label if step == 0 else "", f"{step} {toks[step]}", *(fmt(v, precision) for v in row)
                )
        else:
            t.add_row(label, *(fmt(v, precision) for v in a))
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

    return Text(fmt(v, precision), style=GATE_SCALE.get(key, _diverging)(v))


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
            *(Text(fmt(step[k][u], 2), style=_diverging(step[k][u])) for step in steps[:fit]),
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
