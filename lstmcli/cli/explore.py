"""The `explore` command (`register(app)` adds it): a trained run's insides over a text, as one
self-contained HTML page. TensorFlow-free: the values come from the NumPy engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lstmcli.cli.options import Json, Quiet, handles_errors, state

EPILOG = (
    "Examples: [bold]lstmcli explore runs/text --text configs/data/lighthouse.txt -o text.html[/] · "
    "[bold]lstmcli explore runs/hello --input hello --out hello.html --json[/]"
)


def register(app: typer.Typer) -> None:
    """Add explore to `app` (called once by `lstmcli.cli.commands`)."""
    app.command(epilog=EPILOG)(explore)


@handles_errors
def explore(
    run_dir: Annotated[str, typer.Argument(help="A trained run directory.", show_default=False)],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="The HTML page to write (self-contained; opens offline).", show_default=False
        ),
    ],
    text_file: Annotated[
        Path | None, typer.Option("--text", help="Run the model over this text file.", show_default=False)
    ] = None,
    input_text: Annotated[
        str | None, typer.Option("--input", "-i", help="Run the model over this text.", show_default=False)
    ] = None,
    layer: Annotated[int, typer.Option("--layer", help="Recurrent layer to show (0 = first).")] = 0,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Refuse longer texts (the page stays small and quick).")
    ] = 5000,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """One self-contained HTML page (offline) to look inside a trained model: the text coloured by
    any unit's h, c or gate, a units × time heatmap, select-and-match (LSTMVis), gate saturation
    (Karpathy et al.).

    Values come from lstmcli's NumPy engine, as inspect --verify checks them against Keras.
    The page holds them at 8 bits per unit. No TensorFlow is imported.
    """
    from lstmcli.analysis import explore as explore_mod
    from lstmcli.errors import UsageError
    from lstmcli.render import emit_json, stderr_console, stdout_console
    from lstmcli.render.explore_page import write_page
    from lstmcli.render.json_out import explore_json

    if (text_file is None) == (input_text is None):
        raise UsageError("--text/--input: expected exactly one of --text FILE or --input TEXT")
    if text_file is not None:
        text, notes = explore_mod.read_text(text_file)
        source = str(text_file)
    else:
        assert input_text is not None
        text, notes, source = explore_mod.clean_text(input_text), [], "--input"
    result = explore_mod.explore(run_dir, text, source=source, layer=layer, max_tokens=max_tokens)
    size = write_page(result, out)
    if notes and not (quiet or state["quiet"]):
        err = stderr_console()
        for note in notes:
            err.print(f"Note: {note}", markup=False, soft_wrap=True)
    if json_out:
        emit_json(explore_json(result, out, size))
        return
    stdout_console().print(
        f"Wrote {out} ({size / 1e6:.2f} MB): {result.tokens} tokens, "
        f"{result.cell} layer {result.layer}, {result.units} units",
        markup=False,
        soft_wrap=True,
    )
