"""The experiment commands: evaluate, sweep, export (`register(app)` adds them to the app).

Kept apart from commands.py so that file stays one screen per command family; the same rules hold:
parse arguments, call one function, hand its result to a renderer; TensorFlow only inside
command bodies that need it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lstmcli.cli.options import F, Json, Quiet, Sets, handles_errors, releases_run_locks

if TYPE_CHECKING:
    from lstmcli.experiments.requirements import Requirement
    from lstmcli.experiments.sweep import Plan

_COMMANDS: list[tuple[Callable[..., Any], dict[str, Any]]] = []


def _command(**kwargs: Any) -> Callable[[F], F]:
    """`@app.command(**kwargs)`, deferred until `register(app)`: this module never imports the app."""

    def remember(fn: F) -> F:
        _COMMANDS.append((fn, kwargs))
        return fn

    return remember


def register(app: typer.Typer) -> None:
    """Add evaluate, sweep and export to `app` (called once by `lstmcli.cli.commands`)."""
    for fn, kwargs in _COMMANDS:
        app.command(**kwargs)(fn)


Require = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        metavar="METRIC<=VALUE",
        help="Quality gate on a metric (>=, <=, >, <; repeatable): exit 3 if unmet.",
    ),
]


@_command(
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
    quiet: Quiet = False,
) -> None:
    """Loss, accuracy, perplexity and bits per token on held-out data (no TensorFlow).

    Held-out windows do not overlap (stride sequence_length; --set train.eval_stride=N for
    others). --set may change data.unknown and train.eval_stride only.
    """
    from lstmcli.analysis import evaluation
    from lstmcli.errors import RequirementError
    from lstmcli.experiments import requirements as gates
    from lstmcli.render import output
    from lstmcli.render.json_out import evaluate_json
    from lstmcli.render.tables import evaluation_table

    reqs = [gates.parse(r) for r in require or []]
    gates.check_names(reqs, list(evaluation.METRICS))
    from lstmcli.cli.options import shows_progress
    from lstmcli.render.progress import working

    with working(f"evaluating {run_dir} on {data or 'its test split'}…", shows_progress(quiet, json_out)):
        result = evaluation.evaluate(run_dir, data, list(sets or []))
    output(json_out, lambda: evaluate_json(result, reqs), lambda: [evaluation_table(result)])
    failed = gates.unmet(reqs, result.metrics)
    if failed:
        raise RequirementError("\n".join(failed))


# The sweep command's options (the signature alone would be a screen).
_SweepSets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY.PATH=V1,V2,…",
        help="A grid axis (several values, comma-separated) or a fixed override (one value).",
    ),
]

_SweepOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Sweep folder \\[default: sweeps/<config-stem>-<time>]."),
]

_Objective = Annotated[
    str | None,
    typer.Option(
        "--objective",
        metavar="METRIC:min|max",
        help="What the best point minimises or maximises \\[default: val_loss:min, else loss:min].",
    ),
]

_Search = Annotated[
    Path | None,
    typer.Option(
        "--search",
        help="Sample with Optuna (seeded TPE, median pruning per epoch) over a space file: "
        "KEY: {low, high, log} or {choices: [...]} (needs lstmcli\\[search]).",
    ),
]

_Trials = Annotated[int, typer.Option("--trials", help="Trials of a --search.")]

_Seed = Annotated[
    int | None, typer.Option("--seed", help="Seed of the search's sampler \\[default: the config's].")
]

_SweepResume = Annotated[
    Path | None,
    typer.Option(
        "--resume", help="Finish an interrupted sweep: done points are kept, a half-trained one resumed."
    ),
]

_Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        help="Trials at once on this machine: N worker processes, each with its share of the cores.",
    ),
]

_Storage = Annotated[
    str | None,
    typer.Option(
        "--storage",
        metavar="URL",
        help="The Optuna study's database: sqlite:///PATH, postgresql://… or mysql://…; the same "
        "command on several hosts shares one study \\[default for a search or --workers: "
        "sqlite:///SWEEP_DIR/study.db].",
    ),
]

_Study = Annotated[
    str | None,
    typer.Option("--study", help="The study's name in --storage \\[default: the config's stem]."),
]

_Report = Annotated[
    bool,
    typer.Option(
        "--report", help="Print the --storage study's points and best one, then exit (no training)."
    ),
]


@_command(
    epilog="Examples: [bold]lstmcli sweep configs/text.yaml --set model.units=16,32 "
    "--set train.learning_rate=0.01,0.003[/] · "
    "[bold]lstmcli sweep configs/text.yaml --search space.yaml --trials 20[/] · "
    "[bold]lstmcli sweep --resume sweeps/text-20260101-120000[/] · "
    "[bold]lstmcli sweep configs/text.yaml --search space.yaml --trials 20 --workers 2[/] · "
    "[bold]lstmcli sweep --storage postgresql://me@db/sweeps --report[/]",
)
@handles_errors
@releases_run_locks
def sweep(
    config: Annotated[Path | None, typer.Argument(help="YAML config file.", show_default=False)] = None,
    sets: _SweepSets = None,
    out: _SweepOut = None,
    objective: _Objective = None,
    search: _Search = None,
    trials: _Trials = 0,
    seed: _Seed = None,
    resume: _SweepResume = None,
    workers: _Workers = 1,
    storage: _Storage = None,
    study: _Study = None,
    report: _Report = False,
    require: Require = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Train a grid or a search of configs: one run directory per point, sweep.json with every
    point, its status and metrics, and the best one. `lstmcli runs DIR` lists the points.
    """
    from lstmcli.cli.options import state as _state
    from lstmcli.errors import UsageError
    from lstmcli.experiments import requirements as gates

    if workers < 1:
        raise UsageError(f"--workers: expected at least 1, got {workers}")
    url = None
    if storage is not None:
        from lstmcli.experiments import sweep_storage

        url = sweep_storage.check_url(storage)
    if report:
        _report(url, study, config is not None or resume is not None, json_out)
        return
    if resume is not None:
        if config is not None or sets or out is not None or search is not None or study is not None:
            raise UsageError(
                "--resume SWEEP_DIR takes the sweep's own plan: give no CONFIG, --set, --out, --search "
                "or --study"
            )
        plan = _resumed_plan(resume, url, workers)
    elif config is None:
        raise UsageError("expected a CONFIG file (or --resume SWEEP_DIR), got neither")
    else:
        plan = _new_plan(config, sets, out, objective, require, search, trials, seed, url, study, workers)
    reqs = [gates.parse(r) for r in plan.requires]
    quiet = quiet or _state["quiet"]
    _run_sweep(plan, url, quiet, json_out)
    _show_sweep(plan, reqs, quiet, json_out)


def _report(url: str | None, study: str | None, with_sweep: bool, json_out: bool) -> None:
    """`sweep --storage URL --report`: the study's points and best one, nothing trained."""
    from lstmcli.errors import UsageError
    from lstmcli.render import output
    from lstmcli.render.json_out import sweep_report_json
    from lstmcli.render.tables import sweep_table

    if url is None or with_sweep:
        raise UsageError("--report reads a study: give --storage URL (and --study NAME), no CONFIG")
    from lstmcli.experiments import sweep_storage

    doc = sweep_report_json(sweep_storage.report(url, study))
    output(json_out, lambda: doc, lambda: [sweep_table(doc)])


def _resumed_plan(resume: Path, url: str | None, workers: int) -> Plan:
    """An interrupted sweep's own plan, on its own storage, with this command's --workers."""
    from lstmcli.errors import UsageError
    from lstmcli.experiments import sweep as sweep_mod

    plan = sweep_mod.load_plan(resume)
    if url is not None:
        from lstmcli.experiments import sweep_storage

        if plan.storage != sweep_storage.redact(url):
            raise UsageError(
                f"--storage {sweep_storage.redact(url)}: expected the sweep's own storage "
                f"{plan.storage or 'study.db inside it'}, got another"
            )
    if workers != 1 or plan.workers != 1:
        plan.workers = workers
        if plan.study is None:
            plan.study = Path(plan.source).stem
    return plan


def _new_plan(
    config: Path,
    sets: list[str] | None,
    out: Path | None,
    objective: str | None,
    require: list[str] | None,
    search: Path | None,
    trials: int,
    seed: int | None,
    url: str | None,
    study: str | None,
    workers: int,
) -> Plan:
    """A new sweep's plan from its config and flags (the storage URL recorded without a password)."""
    from lstmcli.experiments import sweep as sweep_mod

    redacted = None
    if url is not None:
        from lstmcli.experiments import sweep_storage

        redacted = sweep_storage.redact(url)
    return sweep_mod.plan(
        config,
        list(sets or []),
        out,
        objective,
        list(require or []),
        search,
        trials,
        seed,
        storage=redacted,
        study=study,
        workers=workers,
    )


def _run_sweep(plan: Plan, url: str | None, quiet: bool, json_out: bool) -> None:
    """Train the plan's points (in this process or its workers); progress on a terminal."""
    from lstmcli.errors import Interrupted
    from lstmcli.experiments import sweep as sweep_mod
    from lstmcli.render import stderr_console

    err = stderr_console()
    progress_for = None
    watch = None
    shown = err.is_terminal and not quiet and not json_out
    if shown:
        from lstmcli.render.json_out import sweep_json
        from lstmcli.render.progress import SweepProgress, TrainProgress, sweep_trial_line

        def progress_for(point: sweep_mod.Point) -> TrainProgress:
            err.print(sweep_trial_line(sweep_json(plan), point.name), highlight=False, markup=False)
            return TrainProgress(err)

        if plan.workers > 1:
            watch = SweepProgress(err, int(plan.base["train"]["epochs"]))

    def notify(line: str) -> None:
        if watch is not None:
            watch.note(line)
        elif not quiet:
            err.print(line, highlight=False, markup=False, soft_wrap=True)

    try:
        if plan.uses_study:
            from lstmcli.experiments import sweep_workers

            sweep_workers.run(plan, url, progress_for, _Watch(watch), notify)
        else:
            sweep_mod.run(plan, progress_for)
    except Interrupted as e:
        raise Interrupted(
            f"{e.stopped}; the sweep's checkpoint is saved. Resume with: lstmcli sweep --resume {plan.out}",
            e.stopped,
        ) from None
    finally:
        if watch is not None:
            watch.close()


def _show_sweep(plan: Plan, reqs: list[Requirement], quiet: bool, json_out: bool) -> None:
    """sweep.json's summary as a table or JSON, then the requirements on the best point (exit 3)."""
    from lstmcli.errors import RequirementError
    from lstmcli.experiments import requirements as gates
    from lstmcli.render import output, stderr_console
    from lstmcli.render.json_out import sweep_json
    from lstmcli.render.tables import sweep_table

    result = sweep_json(plan)
    best = result["best"]
    output(json_out, lambda: result, lambda: [sweep_table(result)])
    if not json_out:
        if not quiet:
            stderr_console().print(f"sweep folder: {plan.out}", highlight=False, soft_wrap=True)
    if reqs:
        if best is None:
            raise RequirementError(f"no point of {plan.out} finished: requirements cannot be met")
        failed = gates.unmet(reqs, best["metrics"])
        if failed:
            raise RequirementError("\n".join(f"best point {best['name']}: {f}" for f in failed))


class _Watch:
    """Hands the sweep's points to the terminal progress as plain JSON (render takes no plans)."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress

    def update(self, plan: Any) -> None:
        if self.progress is not None:
            from lstmcli.render.json_out import sweep_json

            self.progress.update(sweep_json(plan))


@_command(
    epilog="Examples: [bold]lstmcli export runs/hello --format onnx --out hello.onnx --verify[/] · "
    "[bold]lstmcli export runs/hello --format saved_model --out hello_savedmodel[/]",
)
@handles_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="A trained run directory.", show_default=False)],
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="saved_model, onnx (needs lstmcli\\[export]) or tflite."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file (or SavedModel folder) to write.")],
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Run the exported model in its own runtime on the run's sequences and compare with "
            "the NumPy engine; exit 1 above 1e-5.",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing export at --out.")] = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Export a run's model through Keras's Model.export: a TensorFlow SavedModel, ONNX or TFLite.

    The input is one-hot (batch, time, vocab) float32, the output next-token probabilities
    (batch, time, vocab); time is variable where the format allows it.
    """
    from lstmcli.errors import LstmcliError
    from lstmcli.experiments import export as export_mod
    from lstmcli.render import output
    from lstmcli.render.json_out import export_json
    from lstmcli.render.tables import export_table

    export_mod.check_format(fmt)  # before TensorFlow loads
    from lstmcli.cli.options import shows_progress
    from lstmcli.render.progress import working

    what = f"exporting {run_dir} as {fmt}" + (", then verifying it" if verify else "")
    with working(f"{what}…", shows_progress(quiet, json_out)):
        result = export_mod.export(run_dir, fmt, out, verify=verify, force=force)
    output(json_out, lambda: export_json(result), lambda: [export_table(result)])
    v = result.verify
    if v is not None and not v.ok:
        raise LstmcliError(
            f"verify: {fmt} and the NumPy engine differ by {v.max_abs_diff:.3e}, above {v.tolerance:.0e}"
        )
