"""Every documented `--json` document, as the commands print it, has exactly the shape
`lstmcli.render.json_docs` writes down: the keys users script against, with their types."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from conftest import HELLO, run_json
from lstmcli.render import json_docs


def _strict(shape: type) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def _args(command: str, hello_run) -> list[str]:
    return {
        "predict": ["predict", str(hello_run), "hell", "--top-k", "2"],
        "runs": ["runs", str(hello_run.parent)],
        "compare": ["compare", str(hello_run), str(hello_run)],
        "config validate": ["config", "validate", str(HELLO)],
    }[command]


@pytest.mark.parametrize("command", [c for c in json_docs.DOCUMENTS if c != "train"])
def test_json_document_has_its_documented_shape(runner, hello_run, command) -> None:
    doc = run_json(runner, *_args(command, hello_run))
    _strict(json_docs.DOCUMENTS[command]).validate_python(doc)


def test_train_json_has_its_documented_shape(runner, tmp_path) -> None:
    doc = run_json(runner, "train", HELLO, "--out", tmp_path / "run", "--set", "train.epochs=2")
    _strict(json_docs.TrainDoc).validate_python(doc)


def test_a_key_missing_from_the_shape_is_caught(runner, hello_run) -> None:
    doc = run_json(runner, *_args("runs", hello_run))
    doc["runs"][0]["surprise"] = 1
    with pytest.raises(ValidationError):
        _strict(json_docs.RunsDoc).validate_python(doc)
    del doc["runs"][0]["surprise"], doc["runs"][0]["running"]
    with pytest.raises(ValidationError):
        _strict(json_docs.RunsDoc).validate_python(doc)
