"""PNG pictures through the optional `plot` extra (matplotlib): heatmaps and training curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmcli.errors import UsageError
from lstmcli.runs import write_with

if TYPE_CHECKING:
    from lstmcli.analysis.inspection import InspectResult


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed: pip install 'lstmcli[plot]'"
        ) from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _check_target(path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: expected a .png file name, got {path.suffix or 'no suffix'!r}")


GATES = ("i", "f", "o", "z", "r")
"""Sigmoid gates, drawn white 0 … green 1; the states and g blue -1 … white 0 … red +1."""


def inspect_png(r: InspectResult, path: Path) -> None:
    """One row per sequence: heatmaps (units × time) of every gate and state."""
    _check_target(path)
    plt = _pyplot()
    fig = inspect_figure(r)
    write_with(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def inspect_figure(r: InspectResult) -> Any:
    """The figure `inspect_png` saves: a heatmap per sequence and state, each with its colour
    bar, time along the bottom."""
    plt = _pyplot()
    assert r.steps is not None
    keys = [k for k in r.steps[0][0] if k != "token" and r.steps[0][0][k] is not None]
    rows, cols = len(r.steps), len(keys)
    # Many units: a row per sequence keeps to ~2.5 inches instead of growing with the units.
    height = 1.4 * rows + min(0.6 * r.units, 2.5 * rows)
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols + 1, height), squeeze=False)
    for row, (toks, steps) in enumerate(zip(r.inputs, r.steps, strict=True)):
        for col, k in enumerate(keys):
            data = np.array([s[k] for s in steps]).T  # units × time
            ax = axes[row][col]
            gate = k in GATES
            image = ax.imshow(
                data, cmap="Greens" if gate else "RdBu_r", vmin=0 if gate else -1, vmax=1, aspect="auto"
            )
            # Every panel its own colour scale; a state beyond ±1 (an LSTM's c can reach ±200)
            # saturates, which the bar's pointed ends say.
            beyond = not gate and float(np.max(np.abs(data), initial=0.0)) > 1
            bar = fig.colorbar(image, ax=ax, fraction=0.08, pad=0.03, extend="both" if beyond else "neither")
            bar.ax.tick_params(labelsize=6)
            _ticks(ax, toks, r.units)
            if row == rows - 1:
                ax.set_xlabel("time step (token)", fontsize=8)
            if row == 0:
                ax.set_title(k)
            if col == 0:
                text = r.sep.join(toks)
                shown = text if len(text) <= 24 else f"{text[:20]}… ({len(toks)} tokens)"
                ax.set_ylabel(f"{shown!r}\nunit")
    fig.suptitle(f"{r.cell} layer {r.layer}: gates and states over time")
    fig.tight_layout()
    return fig


def _ticks(ax: Any, toks: list[str], units: int) -> None:
    """A tick per token and per unit, or for long sequences (a 1,000-step gap) the first token
    and step numbers, and every 8th unit: thousands of labels take minutes and say nothing."""
    if len(toks) <= 40:
        ax.set_xticks(range(len(toks)), toks)
    else:
        every = max(1, len(toks) // 4)
        steps = list(range(every, len(toks), every))
        ax.set_xticks([0, *steps], [toks[0], *map(str, steps)], fontsize=7)
    ax.set_yticks(range(units) if units <= 16 else range(0, units, 8))


def history_png(history: list[dict[str, float]], path: Path) -> None:
    """Loss and accuracy per epoch (validation too, when there is any)."""
    _check_target(path)
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = [row["epoch"] for row in history]
    for name, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
        for prefix in ("", "val_"):
            key = prefix + name
            if any(key in row for row in history):
                ax.plot(epochs, [row.get(key, np.nan) for row in history], label=key)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    fig.tight_layout()
    write_with(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def require(path: Path) -> None:
    """Fail early (before any work) when --plot cannot be honoured."""
    _check_target(path)
    _pyplot()
