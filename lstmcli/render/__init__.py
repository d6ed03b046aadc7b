"""Results → what a person or a script sees: the consoles, the one output path (`--json`'s one
document or the tables), the error printer, and what tables and documents share. The package's
modules by job: `tables` (Rich tables of results), `states` (inspect's states, gates and heatmaps,
units' ranking), `progress` (training and sweep progress, spinners), `json_out` (every `--json`
document, shaped by `json_docs`), `explore_page` (the explore command's HTML page).

This module imports no other module of the package, so a command loads only the parts it shows.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

if TYPE_CHECKING:
    from rich.console import Console


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
    print_tables(tables(), wide=wide)


def print_tables(items: list[Any], *, wide: bool = False) -> None:
    """Tables (Rich renderables or plain text) on stdout: `output`'s side without `--json`."""
    con = stdout_console()
    for item in items:
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


@overload
def shape_of(arrays: Sequence[np.ndarray]) -> list[int | None]: ...


@overload
def shape_of(arrays: Sequence[np.ndarray] | None) -> list[int | None] | None: ...


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


RUN_KEYS = (
    "model.cell",
    "model.units",
    "model.num_layers",
    "train.epochs",
    "train.batch_size",
    "train.learning_rate",
    "seed",
)
"""The key config values of a run: `runs`' columns and `runs --json`'s `config`."""


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
