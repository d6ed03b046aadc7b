"""Bad configs: one line per problem `Error: <file>: <key.path>: expected …, got …`, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import HELLO, invoke, run_json

GOOD = yaml.safe_load(HELLO.read_text())


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    return p


CASES = [
    # (YAML text, key path, expected fragment of the message)
    (
        "vocab: [h, e, l, yes]\nsequence_length: 5\ndata: {sequences: [hello]}",
        "vocab[3]",
        "expected a string, got boolean true",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: on\ndata: {sequences: [hello]}",
        "sequence_length",
        "expected an integer, got boolean true",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: 5\nmodel: {units: 0}\ndata: {sequences: [hello]}",
        "model.units",
        "expected a value >= 1, got 0",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: 5\nmodel: {unitz: 3}\ndata: {sequences: [hello]}",
        "model.unitz",
        "did you mean 'model.units'?",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: 5\ncolour: red\ndata: {sequences: [hello]}",
        "colour",
        "unknown key 'colour'",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: 5\ndata: {sequences: [hellx]}",
        "data.sequences[0]",
        "got 'x' at position 4",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: 5\ndata: {sequences: [hell]}",
        "data.sequences[0]",
        "expected 5 tokens (sequence_length), got 4",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: 5\ndata: {sequences: [[h, e, l, l, no]]}",
        "data.sequences[0][4]",
        "expected a string, got boolean false",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: 5\ntrain: {learning_rate: -1}\ndata: {sequences: [hello]}",
        "train.learning_rate",
        "expected a value > 0.0, got -1",
    ),
    (
        "vocab: [h, e, l, o]\nsequence_length: 5\ntrain: {optimizer: adamm}\ndata: {sequences: [hello]}",
        "train.optimizer",
        "got string 'adamm'",
    ),
    (
        "vocab: [h, h]\nsequence_length: 5\ndata: {sequences: [hhhhh]}",
        "vocab",
        "expected distinct tokens, got 'h' more than once",
    ),
    ("sequence_length: 5\ndata: {sequences: [hello]}", "vocab", "required key is missing"),
    ("vocab: [h, e, l, o]\nsequence_length: 5\ndata: {sequences: [hello]\n", "line", "invalid YAML"),
    ("- just\n- a list\n", "", "expected a mapping of keys, got a list"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), CASES)
def test_bad_config_is_one_clear_line_and_exit_2(runner, tmp_path, text, key, fragment) -> None:
    cfg = _write(tmp_path, text)
    out = tmp_path / "run"
    result = invoke(runner, "train", cfg, "--out", out)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"Error: {cfg}: {key}"), lines
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "nothing may be written for a bad config"


def test_missing_config_file(runner, tmp_path) -> None:
    result = invoke(runner, "inspect", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "expected a trained run directory or a YAML config file, got no such file" in result.stderr


def test_validate_reports_every_error(runner, tmp_path) -> None:
    cfg = _write(
        tmp_path,
        "vocab: [h, e, l, o]\nsequence_length: yes\nmodel: {units: -2, cell: lstmm}\n"
        "data: {sequences: [hello]}\ntrain: {epochs: 0}",
    )
    result = invoke(runner, "config", "validate", HELLO, cfg)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 4, result.stderr
    assert f"{HELLO}: ok" in result.stdout


def test_config_show_fills_defaults_and_applies_set(runner) -> None:
    shown = run_json(runner, "config", "show", HELLO, "--set", "model.units=8")
    assert shown["model"]["units"] == 8
    assert shown["model"]["cell"] == "lstm"
    assert shown["train"]["optimizer"] == "adam"
    assert shown["vocab"] == ["h", "e", "l", "o"]


def test_set_errors(runner) -> None:
    for item, fragment in [
        ("model.units", "no '='"),
        ("model.unitz=3", "did you mean 'model.units'?"),
        ("model.units=many", "expected an integer, got string 'many'"),
        ("seed.x=1", "not a section"),
    ]:
        result = invoke(runner, "config", "show", HELLO, "--set", item)
        assert result.exit_code == 2, item
        assert fragment in result.stderr, (item, result.stderr)


def test_paths_resolve_against_the_config_folder(tmp_path) -> None:
    from lstmcli import config

    sub = tmp_path / "exp"
    sub.mkdir()
    p = sub / "c.yaml"
    p.write_text("vocab: [a, b]\nsequence_length: 2\ndata: {text_file: corpus.txt}\n")
    assert config.load(p).data.text_file == (sub / "corpus.txt").resolve()


def test_schema_is_json_schema(runner) -> None:
    schema = run_json(runner, "config", "schema")
    assert schema["title"] == "lstmcli config"
    assert "vocab" in schema["properties"]
    assert schema["additionalProperties"] is False
