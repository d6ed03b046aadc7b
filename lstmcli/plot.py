"""PNG pictures through the optional `plot` extra (matplotlib): heatmaps and training curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmcli.errors import UsageError
from lstmcli.runs import write_with

if TYPE_CHECKING:
    from lstmcli.inspection import InspectResult


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


def inspect_png(r: InspectResult, path: Path) -> None:
    """One row per sequence: heatmaps (units × time) of every gate and state."""
    _check_target(path)
    plt = _pyplot()
    assert r.steps is not None
    keys = [k for k in r.steps[0][0] if k != "token" and r.steps[0][0][k] is not None]
    rows, cols = len(r.steps), len(keys)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols + 1, 1.2 * rows + 0.6 * r.units), squeeze=False)
    for row, (toks, steps) in enumerate(zip(r.inputs, r.steps, strict=True)):
        for col, k in enumerate(keys):
            data = np.array([s[k] for s in steps]).T  # units × time
            gate = k in ("i", "f", "o", "z", "r")
            ax = axes[row][col]
            ax.imshow(
                data, cmap="Greens" if gate else "RdBu_r", vmin=0 if gate else -1, vmax=1, aspect="auto"
            )
            ax.set_xticks(range(len(toks)), toks)
            ax.set_yticks(range(r.units))
            if row == 0:
                ax.set_title(k)
            if col == 0:
                ax.set_ylabel(f"{r.sep.join(toks)!r}\nunit")
    fig.suptitle(f"{r.cell} layer {r.layer}: gates and states over time")
    fig.tight_layout()
    write_with(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


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
