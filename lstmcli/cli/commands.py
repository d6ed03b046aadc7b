"""The command line: parse arguments, call one function, hand its result to a renderer.

TensorFlow is imported only inside command bodies that need it, never at module level.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lstmcli.cli.options import (
    MAX_ERROR_LINES,
    Engine_,
    Json,
    Precision,
    Quiet,
    Sets,
    blas_on_one_thread,
    handles_errors,
    releases_run_locks,
)
from lstmcli.cli.options import fail as _fail
from lstmcli.cli.options import state as _state
from lstmcli.errors import EXIT_INTERRUPTED, EXIT_USAGE

if TYPE_CHECKING:
    from lstmcli.experiments.requirements import Requirement
    from lstmcli.training.loop import Prepared, TrainResult
    from lstmcli.training.resolve import RunPlan

app = typer.Typer(
    name="lstmcli",
    help="Train LSTM sequence models from YAML configs and look inside them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Show, validate, describe and start configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _version(value: bool) -> None:
    if value:
        from lstmcli import __version__  # read from the package metadata only when asked

        typer.echo(f"lstmcli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only results and errors (for every command).")
    ] = False,
) -> None:
    """Train LSTM sequence models from YAML configs and look inside them.

    Exit codes: 0 ok, 1 runtime failure, 2 usage / config / input error,
    3 requirement unmet, 130 interrupted.
    """
    _state["quiet"] = quiet


# ---------------------------------------------------------------- train


@app.command(
    epilog="Examples: [bold]lstmcli train configs/hello.yaml --out runs/hello[/] · "
    "[bold]lstmcli train --resume runs/hello[/] · "
    "[bold]lstmcli train --resume runs/hello --set train.epochs=600[/]",
)
@handles_errors
@releases_run_locks
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config file.", show_default=False)] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory \\[default: runs/<config-stem>-<time>]."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing non-empty run directory.")
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue an interrupted run from its last checkpoint, or extend a finished one "
            "(--set train.epochs=N; only keys that change neither the model nor the data).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also save loss/accuracy curves to a PNG (needs lstmcli\\[plot])."),
    ] = None,
    require: Annotated[
        list[str] | None,
        typer.Option(
            "--require",
            metavar="METRIC>=VALUE",
            help="Quality gate on a final metric (>=, <=, >, <; repeatable): the run is saved, "
            "then exit 3 if unmet.",
        ),
    ] = None,
    sets: Sets = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Train the model a config describes and write a run directory.

    The run directory holds model.keras, config.yaml (resolved), history.csv, metrics.json
    and run.json; a checkpoint is saved every epoch, so an interrupted run (Ctrl-C, SIGTERM,
    a crash) continues with --resume.
    """
    from lstmcli import tasks
    from lstmcli.experiments import requirements as gates
    from lstmcli.training import resolve

    plan = resolve.resolve_run(config, out, force, resume, sets)
    reqs = [gates.parse(r) for r in require or []]
    after_load = tasks.of(plan.cfg).metric_names_need_data  # a classifier's labels: auto
    if not after_load:
        gates.check_names(reqs, resolve.require_names(plan.cfg))
    if plot is not None:
        from lstmcli.analysis import plot as plot_mod

        plot_mod.require(plot)
    prep = resolve.prepare(plan)
    if after_load:
        gates.check_names(reqs, resolve.require_names(plan.cfg, prep))
    quiet = quiet or _state["quiet"]
    result = _train_run(plan, prep, force, progress=not quiet and not json_out)
    if plot is not None:
        plot_mod.history_png(result.history, plot)
    failed = gates.unmet(reqs, result.metrics)
    _show_trained(result, reqs, json_out, quiet)
    if failed:
        from lstmcli.errors import RequirementError

        raise RequirementError("\n".join(failed))


def _train_run(plan: RunPlan, prep: Prepared, force: bool, progress: bool) -> TrainResult:
    """Train the resolved run (a progress bar on a terminal if asked); Ctrl-C says how to resume."""
    from lstmcli.errors import Interrupted
    from lstmcli.render import stderr_console
    from lstmcli.training import loop as training
    from lstmcli.training import resolve

    err = stderr_console()
    bar = None
    if err.is_terminal and progress:
        from lstmcli.render.progress import TrainProgress

        bar = TrainProgress(err)
    with resolve.written_run_dir(plan, prep, force) as run_dir:
        try:
            result = training.train(prep, run_dir, progress=bar)
        except Interrupted as e:
            raise Interrupted(_interrupted(e.stopped, run_dir), e.stopped) from None
    result.run_dir = plan.run_dir  # a multi-worker run's other workers report the chief's directory
    return result


def _show_trained(result: TrainResult, reqs: list[Requirement], json_out: bool, quiet: bool) -> None:
    """The metrics table or the JSON document, then the run directory (on stderr unless quiet)."""
    from lstmcli.render import output, stderr_console
    from lstmcli.render.json_out import train_json
    from lstmcli.render.tables import classify_tables, metrics_table

    def tables() -> list[Any]:
        if not result.report:
            return [metrics_table(result.metrics, result.history)]
        # A classifier's per-label numbers have a table of their own.
        main = {
            k: v for k, v in result.metrics.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy")
        }
        return [metrics_table(main, result.history), *classify_tables(result.report)]

    output(json_out, lambda: train_json(result, reqs), tables)
    if not json_out:
        if quiet:
            print(result.run_dir)
        else:
            stderr_console().print(f"run directory: {result.run_dir}", highlight=False, soft_wrap=True)


def _interrupted(stopped: str, run_dir: Path) -> str:
    """The interrupt line: what stopped, where the checkpoint is, and the command that resumes."""
    import shlex

    from lstmcli import runs

    state = runs.RunDir(run_dir).read_state()
    epochs, step = int(state.get("epoch", 0)), int(state.get("step", 0))
    where = f"{epochs} epoch{'s' if epochs != 1 else ''} done" + (
        f" and {step} steps of epoch {epochs + 1}" if step else ""
    )
    return (
        f"{stopped}; checkpoint saved in {run_dir / runs.MODEL} ({where}). "
        f"Resume with: lstmcli train --resume {shlex.quote(str(run_dir))}"
    )


# ---------------------------------------------------------------- inspect


@app.command(
    epilog="Examples: [bold]lstmcli inspect configs/hello.yaml[/] · "
    "[bold]lstmcli inspect runs/hello --input hell --json[/]",
)
@handles_errors
def inspect(
    target: Annotated[
        str, typer.Argument(help="A config file, or a trained run directory.", show_default=False)
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="A text to run instead of the config's sequences (repeatable)."),
    ] = None,
    layer: Annotated[int, typer.Option("--layer", help="Recurrent layer to show (0 = first).")] = 0,
    gates: Annotated[
        bool,
        typer.Option("--gates", help="Every gate and state at every timestep, and heatmaps of h and c."),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Check the NumPy equations against Keras; exit 1 above 1e-5."),
    ] = False,
    engine: Engine_ = "auto",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also save heatmaps to a PNG (needs lstmcli\\[plot]).")
    ] = None,
    units: Annotated[
        str | None,
        typer.Option(
            "--units",
            metavar="START:STOP",
            help="Units shown in the tables, e.g. 0:8 (default: as many as fit the terminal; "
            "--json has all).",
        ),
    ] = None,
    sets: Sets = None,
    precision: Precision = 4,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Run one recurrent layer with return_state=True: one-hot input, outputs, hidden and cell state.

    With --gates, every gate (i, f, g, o) and state (c, h) at every timestep, computed by
    lstmcli's NumPy implementation of the LSTM equations from the layer's weights.
    """
    from lstmcli.analysis import inspection
    from lstmcli.errors import LstmcliError as _E
    from lstmcli.render import output
    from lstmcli.render.json_out import inspect_json
    from lstmcli.render.states import gate_tables, inspect_tables, verify_line

    if plot is not None:
        from lstmcli.analysis import plot as plot_mod

        plot_mod.require(plot)
    target_ = inspection.resolve_target(target, sets)
    result = inspection.inspect(
        target_, inputs, layer=layer, engine=engine, gates=gates or plot is not None, verify=verify
    )
    if plot is not None:
        plot_mod.inspect_png(result, plot)
    shown_steps = result.steps
    if not gates:
        result.steps = None

    def tables() -> list[Any]:
        from lstmcli.render import stdout_console

        width = stdout_console().width
        items = inspect_tables(result, precision, width=width, units=units)
        if gates:
            result.steps = shown_steps
            items += gate_tables(result, precision, width=width, units=units)
        if result.verify is not None:
            items.append(verify_line(result.verify))
        return items

    output(json_out, lambda: inspect_json(result), tables)
    if result.verify is not None and not result.verify["ok"]:
        raise _E(
            f"verify: NumPy and Keras differ by {result.verify['max_abs_diff']:.3e}, "
            f"above the tolerance {result.verify['tolerance']:.0e} (absolute, or relative to the value)"
        )


# ---------------------------------------------------------------- predict


@app.command(
    epilog="Examples: [bold]lstmcli predict runs/hello hell[/] · "
    "[bold]lstmcli predict runs/hello he --steps 3[/] · "
    "[bold]cut -f1 prompts.tsv | lstmcli predict runs/hello - --json[/]",
)
@handles_errors
def predict(
    run_dir: Annotated[str, typer.Argument(help="A trained run directory.", show_default=False)],
    texts: Annotated[
        list[str],
        typer.Argument(help="Input texts; '-' reads them from stdin, one per line.", show_default=False),
    ],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Most likely next tokens shown.")] = 3,
    steps: Annotated[int, typer.Option("--steps", "-n", help="Tokens to generate.")] = 0,
    temperature: Annotated[
        float, typer.Option("--temperature", "-t", help="0 = greedy; above 0 samples.")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for sampling.")] = None,
    engine: Engine_ = "auto",
    precision: Precision = 4,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Next-token probabilities for each text, and optionally generate a continuation; for a
    classifier (task: classify), the probabilities of its labels."""
    blas_on_one_thread()
    import functools

    from lstmcli import runs, tasks
    from lstmcli.analysis import inspection, predicting
    from lstmcli.errors import UsageError

    if texts == ["-"]:
        texts = [line.rstrip("\r\n") for line in sys.stdin]
        if not texts:
            raise UsageError("stdin: expected input texts, one per line, got nothing")
    predicting.check_options(top_k, steps, temperature)
    run = runs.open_run(run_dir)
    target = inspection.Target(Path(run_dir), run.config, run)
    from lstmcli.data import encode_texts

    encode_texts(run.config, texts)  # bad input fails before the model loads
    task = tasks.of(run.config)
    if task.predict is not None:  # the task's own output (classify: its labels' probabilities)
        make = functools.partial(inspection.make_engine, target, engine)  # after the options are checked
        labelled = task.predict(target, make, texts, top_k=top_k, steps=steps, temperature=temperature)
        _show_predicted(labelled, True, json_out, precision)
        return
    eng = inspection.make_engine(target, engine)
    result = predicting.predict(
        target, eng, texts, top_k=top_k, steps=steps, temperature=temperature, seed=seed
    )
    _show_predicted(result, False, json_out, precision)


def _show_predicted(result: Any, labels: bool, json_out: bool, precision: int) -> None:
    """predict's document or tables: a classifier's labels, else next tokens. Only the module of
    the side shown is imported (predict's start-up)."""
    if json_out:
        from lstmcli.render import emit_json
        from lstmcli.render import json_out as documents

        emit_json(documents.label_json(result) if labels else documents.predict_json(result))
        return
    from lstmcli.render import print_tables, tables

    shown = tables.label_tables if labels else tables.predict_tables
    print_tables(shown(result, precision))


# ---------------------------------------------------------------- units


@app.command(
    epilog="Examples: [bold]lstmcli units runs/brackets --text held-out.txt --depth '(' ')'[/] · "
    '[bold]lstmcli units runs/text --text story.txt --match \'"[^"]*"\' --json[/]',
)
@handles_errors
def units(
    run_dir: Annotated[str, typer.Argument(help="A trained run directory.", show_default=False)],
    text: Annotated[
        Path,
        typer.Option(
            "--text",
            help="The text to run (one sequence); with --label, a labelled JSON Lines file.",
            show_default=False,
        ),
    ],
    match: Annotated[
        str | None,
        typer.Option("--match", metavar="REGEX", help="Yes/no feature: the token is inside a match (AUC)."),
    ] = None,
    depth: Annotated[
        tuple[str, str] | None,
        typer.Option("--depth", metavar="OPEN CLOSE", help="Numeric feature: nesting depth (correlation)."),
    ] = None,
    column: Annotated[
        bool, typer.Option("--column", help="Numeric feature: tokens since the last newline (correlation).")
    ] = False,
    label: Annotated[
        bool,
        typer.Option(
            "--label",
            help="Classify runs (two labels): the example's label, 0 or 1, at each step (correlation).",
        ),
    ] = False,
    layer: Annotated[int, typer.Option("--layer", help="Recurrent layer (0 = first).")] = 0,
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps",
            metavar="START:STOP",
            help="Score only these steps of each sequence (a Python slice) "
            "\\[default: all; 1: with --label].",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Units listed.")] = 10,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Refuse a longer text (take a slice instead).")
    ] = 100_000,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Rank a layer's units (h, c and every gate) by how well each tracks a feature of the text:
    Pearson's r for a numeric feature, the AUC for a yes/no one. NumPy engine, no TensorFlow."""
    from lstmcli.analysis import units as units_mod
    from lstmcli.errors import UsageError
    from lstmcli.render import output
    from lstmcli.render.json_out import units_json
    from lstmcli.render.states import units_tables

    chosen = (("--match", match), ("--depth", depth), ("--column", column), ("--label", label))
    given = [name for name, v in chosen if v not in (None, False)]
    if len(given) != 1:
        got = ", ".join(given) if given else "none"
        raise UsageError(f"expected exactly one feature (--match, --depth, --column or --label), got {got}")
    if match is not None:
        feature = units_mod.Feature("match", regex=match)
    elif depth is not None:
        feature = units_mod.Feature("depth", open=depth[0], close=depth[1])
    else:
        feature = units_mod.Feature("column" if column else "label")
    result = units_mod.units(run_dir, text, feature, layer=layer, steps=steps, max_tokens=max_tokens)
    output(json_out, lambda: units_json(result, top), lambda: units_tables(result, top))


# ---------------------------------------------------------------- config


@config_app.command(
    "show", epilog="Example: [bold]lstmcli config show configs/hello.yaml --set model.units=8[/]"
)
@handles_errors
def config_show(
    config: Annotated[Path, typer.Argument(help="YAML config file.", show_default=False)],
    sets: Sets = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Print the resolved config with every default filled in."""
    from lstmcli import config as config_mod
    from lstmcli.render import emit_json

    cfg = config_mod.load(config, sets)
    if json_out:
        from lstmcli.render.json_out import config_show_json

        emit_json(config_show_json(cfg))
    else:
        sys.stdout.write(config_mod.dump_yaml(cfg))


@config_app.command(
    "validate",
    epilog="Examples: [bold]lstmcli config validate configs/*.yaml[/] · "
    "[bold]lstmcli config validate my.yaml --schema-only[/]",
)
@handles_errors
def config_validate(
    configs: Annotated[list[Path], typer.Argument(help="Config files.", show_default=False)],
    sets: Sets = None,
    schema_only: Annotated[
        bool,
        typer.Option("--schema-only", help="Only the YAML and the schema; do not read the data files."),
    ] = False,
    all_errors: Annotated[
        bool, typer.Option("--all", help=f"Print every error, not only the first {MAX_ERROR_LINES}.")
    ] = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Check configs as train would before training: the schema, then the data files read and
    tokenised, the windows, the validation split and the vocabulary (no TensorFlow).

    Reports every error found in every file; exit 0 when all are valid, else 2.
    """
    from lstmcli import config as config_mod
    from lstmcli import tasks
    from lstmcli.errors import LstmcliError as _E
    from lstmcli.render import emit_json

    checked: list[tuple[str, bool, list[str]]] = []  # each config, valid or not, its errors
    errors: list[str] = []
    for path in configs:
        try:
            cfg = config_mod.load(path, sets)
            if not schema_only:
                with config_mod.in_source(str(path)):
                    tasks.of(cfg).load(cfg)  # the very checks training.prepare makes before training
            checked.append((str(path), True, []))
        except _E as e:
            lines = e.message.splitlines()
            errors.extend(lines)
            checked.append((str(path), False, lines))
    if json_out:
        from lstmcli.render.json_out import validate_json

        emit_json(validate_json(checked))
    else:
        for name, valid, _ in checked:
            if valid:
                print(f"{name}: ok")
    if errors:
        if json_out:
            raise typer.Exit(EXIT_USAGE)
        raise _fail("\n".join(errors), EXIT_USAGE, limit=None if all_errors else MAX_ERROR_LINES)


@config_app.command("schema", epilog="Example: [bold]lstmcli config schema > lstmcli.schema.json[/]")
@handles_errors
def config_schema(
    json_out: Annotated[
        bool, typer.Option("--json", hidden=True, help="Accepted; the output is always JSON.")
    ] = True,
    quiet: Quiet = False,
) -> None:
    """Print the JSON Schema of the config file (for editors and YAML language servers).

    The output is always JSON; --json is accepted for symmetry with the other commands.
    """
    from lstmcli import config as config_mod
    from lstmcli.render import emit_json
    from lstmcli.render.json_out import schema_json

    emit_json(schema_json(config_mod.json_schema()))


@config_app.command("reference", epilog="Example: [bold]lstmcli config reference > docs/config.md[/]")
@handles_errors
def config_reference(json_out: Json = False, quiet: Quiet = False) -> None:
    """Print every config key with its default and meaning, as Markdown (docs/config.md).

    With --json: {"keys": [{"key", "required", "default", "description"}]}.
    """
    from lstmcli import config as config_mod
    from lstmcli.render import emit_json

    if json_out:
        from lstmcli.render.json_out import reference_json

        emit_json(reference_json(config_mod.reference_rows()))
        return
    sys.stdout.write(config_mod.reference_markdown())


@config_app.command("init", epilog="Example: [bold]lstmcli config init my.yaml && lstmcli train my.yaml[/]")
@handles_errors
def config_init(
    path: Annotated[
        Path, typer.Argument(help="Where to write it ('-' prints it).", show_default=True)
    ] = Path("lstmcli.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Write a commented starter config that trains as it is.

    With --json: {"path": the file written (null for '-'), "config": its text}.
    """
    from lstmcli import config as config_mod
    from lstmcli import runs
    from lstmcli.errors import UsageError
    from lstmcli.render import emit_json

    text = config_mod.STARTER
    to_stdout = str(path) == "-"
    if not to_stdout:
        if path.exists() and not force:
            raise UsageError(f"{path}: already exists; pass --force to replace it")
        runs.write_text(path, text)
    if json_out:
        from lstmcli.render.json_out import init_json

        emit_json(init_json(None if to_stdout else path, text))
    elif to_stdout:
        sys.stdout.write(text)
    else:
        print(path)


@app.command("runs", epilog="Example: [bold]lstmcli runs runs/ --json | jq '.runs[].metrics'[/]")
@handles_errors
def runs_cmd(
    root: Annotated[Path, typer.Argument(help="Folder holding run directories.")] = Path("runs"),
    wide: Annotated[
        bool, typer.Option("--wide", "-w", help="Every column, however wide the terminal.")
    ] = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """A table of the runs under a folder: name, status, epochs and the headline metric, then as
    many more columns (accuracy, date, key config values, other metrics) as fit the terminal."""
    from lstmcli import runs
    from lstmcli.render import output, stdout_console
    from lstmcli.render.json_out import runs_json
    from lstmcli.render.tables import runs_table

    found = runs.list_runs(root)
    width = None if wide else stdout_console().width
    output(json_out, lambda: runs_json(found), lambda: [runs_table(found, root, width)], wide=wide)


@app.command(epilog="Example: [bold]lstmcli compare runs/a runs/b --json[/]")
@handles_errors
def compare(
    run_a: Annotated[Path, typer.Argument(help="A run directory.", show_default=False)],
    run_b: Annotated[Path, typer.Argument(help="Another run directory.", show_default=False)],
    all_keys: Annotated[bool, typer.Option("--all", help="Show config keys that are the same too.")] = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Two runs side by side: configs and metrics, differences highlighted."""
    from lstmcli import runs
    from lstmcli.render import output
    from lstmcli.render.json_out import compare_json
    from lstmcli.render.tables import compare_tables

    result = runs.compare(run_a, run_b)
    output(json_out, lambda: compare_json(result), lambda: compare_tables(result, all_keys))


# evaluate, sweep and export live in their own module, registered here explicitly.
from lstmcli.cli import experiments as cli_experiments  # noqa: E402

cli_experiments.register(app)

# explore (the HTML page) likewise.
from lstmcli.cli import explore as cli_explore  # noqa: E402

cli_explore.register(app)


def _sentences(doc: str) -> str:
    """A docstring as `--help` shows it: each paragraph's source line breaks (which fall mid-
    sentence) joined, and a line break after each sentence instead, so the terminal wraps only
    what is longer than its width (Typer's rich mode keeps every source line break)."""
    import inspect as _inspect
    import re

    paragraphs = _inspect.cleandoc(doc).split("\n\n")
    joined = [" ".join(p.split()) for p in paragraphs]
    return "\n\n".join(re.sub(r"(?<=[.;:)]) (?=[A-Z(`])", "\n", p) for p in joined)


def _help_by_sentence(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = _sentences(info.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _help_by_sentence(group.typer_instance)
    callback = typer_app.registered_callback
    if callback is not None and callback.help is None and callback.callback is not None:
        callback.help = _sentences(callback.callback.__doc__ or "")


_help_by_sentence(app)


def _no_bool_metavar() -> None:
    """Flags take no value, so `--help` shows no `<bool>` type beside them (Typer 0.2x shows one
    for every flag; it has no setting for this, hence the one override)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_bool_metavar()


def main() -> None:
    """Console-script entry point.

    Click's usage errors (a missing argument, an unknown option) become one `Error:` line and
    exit 2, like every other usage error, instead of Typer's boxed panel.
    """
    # A private module, on purpose: Typer exposes no public UsageError / NoArgsIsHelpError
    # (typer.exceptions holds only Abort, Exit and TyperException), and Typer 0.2x ships its
    # own copy of Click instead of depending on it; older Typers use Click itself.
    try:
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover - depends on the installed Typer
        from click import exceptions as click_errors  # type: ignore[no-redef]

    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        # `lstmcli` or `lstmcli config` alone: the help, as a user asking would see it.
        typer.echo(e.ctx.get_help() if e.ctx is not None else str(e))
        sys.exit(EXIT_USAGE)
    except click_errors.UsageError as e:
        from lstmcli.render import print_errors

        name = e.ctx.command_path if e.ctx is not None else "lstmcli"
        print_errors(f"{name}: {e.format_message()} (see '{name} --help')", None)
        sys.exit(EXIT_USAGE)
    except typer.Abort:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
