"""The experiment commands: evaluate, sweep, export (registered on lstmcli.cli's app).

Kept apart from cli.py so that file stays one screen per command family; the same rules hold:
parse arguments, call one function, hand its result to a renderer; TensorFlow only inside
command bodies that need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lstmcli.cli import Json, Sets, _print, app, handles_errors, releases_run_locks

Require = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        metavar="METRIC<=VALUE",
        help="Quality gate on a metric (>=, <=, >, <; repeatable): exit 3 if unmet.",
    ),
]


@app.command(
    epilog="Examples: [bold]lstmcli evaluate runs/text[/] (its test split) · "
    "[bold]lstmcli evaluate runs/text --data held_out.txt --require 'test_loss<=1.2' --json[/]",
)
@handles_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A trained run directory.", show_default=False)],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Evaluate on this file (text, or JSON Lines: .jsonl/.ndjson/.json), read like the "
            "training data with the run's vocabulary; default: the run's test split.",
        ),
    ] = None,
    sets: Sets = None,
    require: Require = None,
    json_out: Json = False,
) -> None:
    """Loss, accuracy, perplexity and bits per token on held-out data (no TensorFlow).

    Held-out windows do not overlap (stride sequence_length; --set train.eval_stride=N for
    others). --set may change data.unknown and train.eval_stride only.
    """
    from lstmcli import evaluation, gates
    from lstmcli.errors import RequirementError
    from lstmcli.render import emit_json
    from lstmcli.reports import evaluation_table, requirement_rows

    reqs = [gates.parse(r) for r in require or []]
    gates.check_names(reqs, list(evaluation.METRICS))
    result = evaluation.evaluate(run_dir, data, list(sets or []))
    if json_out:
        emit_json({**evaluation.to_json(result), "requirements": requirement_rows(reqs, result.metrics)})
    else:
        _print([evaluation_table(result)])
    failed = gates.unmet(reqs, result.metrics)
    if failed:
        raise RequirementError("\n".join(failed))


_ = releases_run_locks  # used by the sweep command below
