"""Every `--json` document, as the commands print it, has exactly the shape
`lstmcli.render.json_docs` writes down: the keys users script against, with their types.

The commands run in-process (CliRunner) on the session's hello run and on one tiny classifier
trained once for this module; each case runs its command once and validates what it printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from conftest import HELLO, invoke, run_json
from lstmcli.render import json_docs

# The shape each case is validated against, by its name in json_docs.DOCUMENTS; several cases may
# check one document (inspect with and without --gates, on each cell).
CASES: dict[str, str] = {
    "predict": "predict",
    "runs": "runs",
    "compare": "compare",
    "config validate": "config validate",
    "inspect": "inspect",
    "inspect --gates --verify": "inspect",
    "inspect --gates gru": "inspect",
    "inspect --gates simple_rnn": "inspect",
    "inspect (classify)": "inspect",
    "predict (classify)": "predict (classify)",
    "evaluate": "evaluate",
    "evaluate --require": "evaluate",
    "explore": "explore",
    "explore (classify)": "explore",
    "units --match": "units",
    "units --column": "units",
    "units --label": "units",
    "config show": "config show",
    "config reference": "config reference",
    "config init": "config init",
    "config init -": "config init",
    "export": "export",
}


def _strict(shape: type) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A text in the hello vocabulary (units, evaluate, explore)."""
    d = tmp_path_factory.mktemp("jsondocs")
    (d / "hello.txt").write_text("hellohelloolleh", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def classifier(runner, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A two-label classifier, one epoch (the label is the first character), and its train --json."""
    d = tmp_path_factory.mktemp("classifier")
    lines = [{"text": "ab"[i % 2] + "xyz"[: i % 4], "label": ("neg", "pos")[i % 2]} for i in range(24)]
    (d / "ex.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    body = {
        "task": "classify",
        "vocab": "auto",
        "labels": "auto",
        "sequence_length": 6,
        "model": {"units": 4},
        "data": {"sequences_file": "ex.jsonl"},
        "train": {"epochs": 1, "batch_size": 8, "validation_split": 0.25},
    }
    (d / "c.yaml").write_text(json.dumps(body), encoding="utf-8")  # JSON is YAML
    doc = run_json(runner, "train", d / "c.yaml", "--out", d / "run", "--require", "loss<=100")
    return d / "run", doc


def _args(case: str, hello_run: Path, work: Path, classifier: Path) -> list[Any]:
    text = work / "hello.txt"
    return {
        "predict": ["predict", hello_run, "hell", "--top-k", "2", "--steps", "2"],
        "runs": ["runs", hello_run.parent],
        "compare": ["compare", hello_run, hello_run],
        "config validate": ["config", "validate", HELLO],
        "inspect": ["inspect", HELLO],
        "inspect --gates --verify": ["inspect", hello_run, "--input", "hell", "--gates", "--verify"],
        "inspect --gates gru": ["inspect", HELLO, "--gates", "--set", "model.cell=gru"],
        "inspect --gates simple_rnn": ["inspect", HELLO, "--gates", "--set", "model.cell=simple_rnn"],
        "inspect (classify)": ["inspect", classifier, "--input", "axy", "--input", "b"],
        "predict (classify)": ["predict", classifier, "axy", "bx"],
        "evaluate": ["evaluate", hello_run, "--data", text],
        "evaluate --require": ["evaluate", hello_run, "--data", text, "--require", "test_loss<=100"],
        "explore": ["explore", hello_run, "--text", text, "--out", work / "hello.html"],
        "explore (classify)": ["explore", classifier, "--input", "axyz", "--out", work / "c.html"],
        "units --match": ["units", hello_run, "--text", text, "--match", "l+", "--top", "3"],
        "units --column": ["units", hello_run, "--text", text, "--column", "--steps", "1:"],
        "units --label": ["units", classifier, "--text", classifier.parent / "ex.jsonl", "--label"],
        "config show": ["config", "show", HELLO],
        "config reference": ["config", "reference"],
        "config init": ["config", "init", work / "init.yaml"],
        "config init -": ["config", "init", "-"],
        "export": ["export", hello_run, "--format", "saved_model", "--out", work / "sm", "--verify"],
    }[case]


def _json_commands(command: Any, path: tuple[str, ...] = ()) -> set[str]:
    """Every command (`config show` …) that takes --json, read from the CLI itself."""
    subs = getattr(command, "commands", None)
    if subs is not None:
        return set().union(*(_json_commands(sub, (*path, name)) for name, sub in subs.items()))
    return {" ".join(path)} if any("--json" in getattr(p, "opts", ()) for p in command.params) else set()


def test_every_command_with_json_has_a_documented_shape() -> None:
    import typer

    from lstmcli.cli import app

    commands = _json_commands(typer.main.get_command(app))
    assert "config show" in commands and "units" in commands
    # "predict (classify)" and "sweep --report" are further documents of predict and sweep
    documented = {name.split(" (")[0].split(" --")[0] for name in json_docs.DOCUMENTS}
    assert commands == documented


def test_every_document_has_a_case_or_a_test_of_its_own() -> None:
    own = {"train", "sweep", "sweep --report", "config schema"}  # tested below
    assert set(json_docs.DOCUMENTS) == set(CASES.values()) | own


@pytest.mark.parametrize("case", list(CASES))
def test_json_document_has_its_documented_shape(runner, hello_run, work, classifier, case) -> None:
    doc = run_json(runner, *_args(case, hello_run, work, classifier[0]))
    shape = _strict(json_docs.DOCUMENTS[CASES[case]])
    shape.validate_python(doc)
    _renamed_or_dropped_keys_fail(shape, doc)


def _renamed_or_dropped_keys_fail(shape: TypeAdapter[Any], doc: dict[str, Any]) -> None:
    """The shape holds this document's every key: without any one of them, or with it renamed,
    the document no longer validates (keys a flag adds, NotRequired, are checked by
    test_the_optional_keys_are_there_when_asked_for)."""
    optional = {"steps", "verify"} if "shapes" in doc else {"classification"}
    for key in set(doc) - optional:
        rest = {k: v for k, v in doc.items() if k != key}
        for changed in (rest, {**rest, f"{key}_renamed": doc[key]}):
            with pytest.raises(ValidationError):
                shape.validate_python(changed)


def test_every_document_is_built_by_one_builder_typed_with_its_shape() -> None:
    """render/json_out.py is the documents' one home: each shape in DOCUMENTS is the declared
    return type of exactly one builder there (which mypy then holds to the shape)."""
    import inspect

    from lstmcli.render import json_out

    returns = [
        fn.__annotations__.get("return")
        for name, fn in inspect.getmembers(json_out, inspect.isfunction)
        if fn.__module__ == json_out.__name__ and not name.startswith("_")
    ]
    for shape in {s.__name__ for s in json_docs.DOCUMENTS.values()}:
        assert returns.count(shape) == 1, f"{shape}: built by {returns.count(shape)} builders in json_out"


def test_a_builder_that_renames_or_drops_a_key_fails_its_shape(runner, hello_run, monkeypatch) -> None:
    """What the cases above catch, shown on one builder: `runs --json` with `pid` renamed, then
    with `running` dropped, no longer has its documented shape."""
    from lstmcli.render import json_out

    built = json_out.runs_json
    for change in ({"pid": "process"}, {"running": None}):

        def broken(found: Any, change: dict[str, str | None] = change) -> Any:
            doc = built(found)
            for row in doc["runs"]:
                for old, new in change.items():
                    value = row.pop(old)
                    if new is not None:
                        row[new] = value
            return doc

        monkeypatch.setattr(json_out, "runs_json", broken)
        doc = run_json(runner, "runs", hello_run.parent)
        with pytest.raises(ValidationError):
            _strict(json_docs.RunsDoc).validate_python(doc)


def test_the_optional_keys_are_there_when_asked_for(runner, hello_run, work, classifier) -> None:
    """NotRequired keys are not a way to drop a key: each appears when its flag asks for it."""
    gates = run_json(runner, *_args("inspect --gates --verify", hello_run, work, classifier[0]))
    assert set(gates["steps"][0][0]) == {"token", "i", "f", "g", "o", "c", "h"} and gates["verify"]["ok"]
    gru = run_json(runner, *_args("inspect --gates gru", hello_run, work, classifier[0]))
    assert set(gru["steps"][0][0]) == {"token", "z", "r", "g", "h", "c"} and gru["steps"][0][0]["c"] is None
    label = run_json(runner, *_args("units --label", hello_run, work, classifier[0]))
    assert label["feature"]["labels"] == ["neg", "pos"]
    assert classifier[1]["classification"]["confusion"]["labels"] == ["neg", "pos"]


def test_train_json_has_its_documented_shape(runner, tmp_path, classifier) -> None:
    doc = run_json(
        runner, "train", HELLO, "--out", tmp_path / "run", "--set", "train.epochs=2", "--require", "loss<=100"
    )
    _strict(json_docs.TrainDoc).validate_python(doc)
    _strict(json_docs.TrainDoc).validate_python(classifier[1])  # with `classification`


def test_sweep_and_its_report_have_their_documented_shapes(runner, tmp_path) -> None:
    """One tiny grid kept in a study (in this process: one worker), so that `--report` has one
    to read; a sweep without a study prints the same document (sweep.summary) with nulls."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    grid = ["--set", "model.units=2,3", "--set", "train.epochs=1", "--require", "loss<=100"]
    doc = run_json(runner, "sweep", HELLO, *grid, "--out", tmp_path / "grid", "--storage", url)
    _strict(json_docs.SweepDoc).validate_python(doc)
    saved = json.loads((tmp_path / "grid" / "sweep.json").read_text(encoding="utf-8"))
    assert doc == {k: v for k, v in saved.items() if k != "base"}  # the file, without its base config
    assert doc["points"][0]["host"] is not None and doc["best"] is not None
    report = run_json(runner, "sweep", "--storage", url, "--report")
    _strict(json_docs.SweepReportDoc).validate_python(report)


def test_config_schema_has_its_documented_shape(runner) -> None:
    result = invoke(runner, "config", "schema")  # always JSON, no --json needed
    assert result.exit_code == 0, result.output
    _strict(json_docs.SchemaDoc).validate_python(json.loads(result.stdout))


def test_a_key_missing_from_the_shape_is_caught(runner, hello_run) -> None:
    doc = run_json(runner, "runs", hello_run.parent)
    doc["runs"][0]["surprise"] = 1
    with pytest.raises(ValidationError):
        _strict(json_docs.RunsDoc).validate_python(doc)
    del doc["runs"][0]["surprise"], doc["runs"][0]["running"]
    with pytest.raises(ValidationError):
        _strict(json_docs.RunsDoc).validate_python(doc)
