"""The task registry is what the code uses: `tasks.of(cfg)` returns each task module's `Task`, no
module outside `lstmcli/tasks/` compares `cfg.task` with a name or calls a task's data functions
itself, and a Task whose fields are swapped (monkeypatched into the registry) changes what
`config validate`, `inspect CONFIG`, the Keras builder, `--require`, training's report and
`predict` do."""

from __future__ import annotations

import ast
import dataclasses
import json
import typing
from pathlib import Path

import numpy as np
import pytest

from conftest import HELLO, ROOT, invoke, run_json
from lstmcli import config, tasks
from lstmcli.config.schema import Config
from lstmcli.errors import UsageError
from lstmcli.tasks import classify, next_token

PACKAGE = ROOT / "lstmcli"


def _classify_config(tmp_path: Path) -> Config:
    lines = [{"text": "ab", "label": "pos"}, {"text": "ba", "label": "neg"}] * 4
    (tmp_path / "ex.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    body = {
        "task": "classify",
        "vocab": "auto",
        "labels": "auto",
        "sequence_length": 4,
        "data": {"sequences_file": "ex.jsonl"},
    }
    (tmp_path / "c.yaml").write_text(json.dumps(body), encoding="utf-8")
    return config.load(tmp_path / "c.yaml")


def test_of_returns_each_modules_task(tmp_path) -> None:
    assert tasks.of(config.load(HELLO)) is next_token.TASK
    assert tasks.of(_classify_config(tmp_path)) is classify.TASK
    assert tasks.get("classify") is classify.TASK


def test_the_schema_offers_exactly_the_registered_tasks() -> None:
    assert set(typing.get_args(Config.model_fields["task"].annotation)) == set(tasks.TASKS)


def test_an_unknown_task_name_says_which_are_known() -> None:
    with pytest.raises(KeyError, match="next_token, classify"):
        tasks.get("tag")


def test_the_classify_task_resolves_vocab_and_labels_and_loads_examples(tmp_path) -> None:
    cfg = _classify_config(tmp_path)
    task = tasks.of(cfg)
    resolved = task.resolve(cfg)
    assert resolved.vocab == ["a", "b"] and resolved.labels == ["neg", "pos"]
    assert task.classes(resolved) == ["neg", "pos"]
    loaded, ex = task.load(cfg)
    assert loaded.labels == ["neg", "pos"] and isinstance(ex, classify.Examples) and ex.count == 8
    assert [list(s) for s in task.sequences(cfg, 2)] == [[0, 1], [1, 0]]


# ---------------------------------------------------------------- nothing bypasses the registry

# A validator may read its own field: the schema's checks of `labels` against `task` stay there.
SCHEMA = PACKAGE / "config" / "schema.py"
TASK_DATA = {"load_windows", "resolve_vocab", "config_sequences", "load_examples", "example_sequences"}
"""The tasks' own data functions: everything outside data/ and tasks/ reaches them through a Task."""


def _outside(*inside: str) -> list[Path]:
    return [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if not any(p.is_relative_to(PACKAGE / d) for d in inside) and p != SCHEMA
    ]


def _task_name_compares(source: str) -> list[int]:
    """Lines comparing `<something>.task` with a string (or a collection of strings)."""

    def is_task(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "task"

    def is_name(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        return isinstance(node, ast.Tuple | ast.List | ast.Set) and all(map(is_name, node.elts))

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(map(is_task, sides)) and any(map(is_name, sides)):
                found.append(node.lineno)
        elif isinstance(node, ast.Match) and is_task(node.subject):
            found.append(node.lineno)
    return found


def _task_data_calls(source: str) -> list[int]:
    found = []
    for node in ast.walk(ast.parse(source)):
        name = (
            node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        )
        if name in TASK_DATA:
            found.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and any(a.name in TASK_DATA for a in node.names):
            found.append(node.lineno)
    return found


def test_no_module_outside_tasks_compares_cfg_task_with_a_name() -> None:
    found = {
        str(p.relative_to(ROOT)): lines
        for p in _outside("tasks")
        if (lines := _task_name_compares(p.read_text(encoding="utf-8")))
    }
    assert not found, f"ask lstmcli.tasks.of(cfg) instead of comparing cfg.task: {found}"


def test_no_module_outside_data_and_tasks_calls_a_tasks_data_functions() -> None:
    found = {
        str(p.relative_to(ROOT)): lines
        for p in _outside("tasks", "data")
        if (lines := _task_data_calls(p.read_text(encoding="utf-8")))
    }
    assert not found, f"call lstmcli.tasks.of(cfg).load / .resolve / .sequences instead: {found}"


def test_the_checks_see_what_they_forbid() -> None:
    """The two checks above would catch the branches the registry replaced."""
    assert _task_name_compares('if cfg.task == "classify":\n    pass\n') == [1]
    assert _task_name_compares('x = "next_token" != run.config.task\n') == [1]
    assert _task_name_compares('x = cfg.task in ("classify", "tag")\n') == [1]
    assert _task_name_compares('match cfg.task:\n    case "classify":\n        pass\n') == [1]
    assert _task_name_compares("x = tasks.of(cfg).head == 'last_state'\n") == []
    assert _task_data_calls("from lstmcli.data import load_windows\n") == [1]
    assert _task_data_calls("cfg, w = data.load_windows(cfg)\n") == [1]
    assert _task_data_calls("cfg, ex = classify.load_examples(cfg)\n") == [1]


# ---------------------------------------------------------------- swapped Task fields are followed


def _swap(monkeypatch: pytest.MonkeyPatch, name: str, **fields: typing.Any) -> tasks.Task:
    task = dataclasses.replace(tasks.TASKS[name], **fields)
    monkeypatch.setitem(tasks.TASKS, name, task)
    return task


def test_config_validate_loads_through_the_task(runner, monkeypatch) -> None:
    def load(cfg: Config) -> tuple[Config, typing.Any]:
        raise UsageError("data.sequences: the swapped task's load ran")

    _swap(monkeypatch, "next_token", load=load)
    doc = json.loads(invoke(runner, "config", "validate", HELLO, "--json").stdout)
    assert "the swapped task's load ran" in " ".join(doc["configs"][0]["errors"])


def test_inspect_config_resolves_and_shows_the_tasks_sequences(runner, monkeypatch) -> None:
    seen: list[str] = []

    def resolve(cfg: Config) -> Config:
        seen.append("resolve")
        return cfg

    def sequences(cfg: Config, limit: int = 3) -> list[np.ndarray]:
        return [np.array([3, 3, 0], np.int32)]

    _swap(monkeypatch, "next_token", resolve=resolve, sequences=sequences)
    doc = run_json(runner, "inspect", HELLO)
    assert seen == ["resolve"]
    assert doc["inputs"] == [["o", "o", "h"]]


def test_require_names_add_the_tasks_metric_names() -> None:
    from lstmcli.training import loop, resolve

    cfg = config.load(HELLO)
    prep = loop.Prepared(cfg, None)  # type: ignore[arg-type]  # require_names reads prep.cfg only
    assert "swapped" not in resolve.require_names(cfg, prep)
    with pytest.MonkeyPatch.context() as mp:
        _swap(mp, "next_token", metric_names=lambda cfg: ["swapped"])
        assert resolve.require_names(cfg, prep)[-1] == "swapped"


def test_the_keras_builder_reads_the_head_from_the_task(monkeypatch) -> None:
    from lstmcli.model import backend

    cfg = config.load(HELLO)
    stock = backend.build_model(cfg)
    assert [type(x).__name__ for x in stock.layers] == ["LSTM", "Dense"]
    assert stock.layers[0].return_sequences and stock.layers[-1].name == "next_token"
    _swap(monkeypatch, "next_token", head="last_state", masks_padding=True, output_layer="swapped")
    model = backend.build_model(cfg)
    assert [type(x).__name__ for x in model.layers] == ["Masking", "LSTM", "Dense"]
    assert not model.layers[1].return_sequences and model.layers[-1].name == "swapped"
    assert model.output_shape == (None, len(cfg.vocab))


def test_training_writes_the_tasks_report_and_predict_uses_its_output(runner, monkeypatch, tmp_path) -> None:
    seen: dict[str, typing.Any] = {}

    def report(cfg: Config, data: typing.Any, predict: typing.Any) -> tasks.TaskReport:
        seen["predicted"] = predict(np.array([[0, 1, 2, 2]], np.int32))
        document = classify.report(["x", "y"], np.array([0, 1]), np.array([0, 0]), "train")
        return tasks.TaskReport(document, {"swapped_metric": 0.5}, {"swapped.json": {"n": 1}})

    def predict(target, engine, texts, *, top_k, steps, temperature):  # type: ignore[no-untyped-def]
        seen["engine"] = engine().name
        item = classify.LabelItem(texts[0], [], [("x", 1.0)])
        return classify.LabelResult(str(target.path), "swapped", [item])

    _swap(monkeypatch, "next_token", report=report, predict=predict)
    out = tmp_path / "run"
    doc = run_json(runner, "train", HELLO, "--out", out, "--set", "train.epochs=2")
    assert doc["metrics"]["swapped_metric"] == 0.5 and doc["classification"]["examples"] == 2
    assert json.loads((out / "metrics.json").read_text())["swapped_metric"] == 0.5
    assert json.loads((out / "swapped.json").read_text()) == {"n": 1}
    assert seen["predicted"].shape == (1, 4)  # the Keras model's argmax at every step of the window
    labelled = run_json(runner, "predict", out, "hel")
    assert labelled["engine"] == "swapped" and labelled["results"][0]["label"] == "x"
    assert seen["engine"] == "numpy"
