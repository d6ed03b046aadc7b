"""`config validate` checks what `train` checks, with its messages; YAML 1.2 numbers; duplicate
keys; at most ten error lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, invoke
from lstmcli import config

# (files beside the config, config text, a fragment of the one error line) — each of these
# passed `config validate` before issue 11 and failed only in `train`.
CASES = {
    "missing text_file": ({}, "data: {text_file: nope.txt}", "nope.txt: no such data file (data.text_file)"),
    "not UTF-8": ({"t.txt": b"ab\xffab"}, "data: {text_file: t.txt}", "expected UTF-8 text"),
    "malformed JSON Lines": (
        {"s.jsonl": b'"abab"\n{"a":\n'},
        "data: {sequences_file: s.jsonl}",
        "s.jsonl: line 2: expected a JSON string",
    ),
    "corpus shorter than a window": ({"t.txt": b"ab"}, "data: {text_file: t.txt}", "for one training window"),
    "inline sequence_length 1": (
        {},
        "sequence_length: 1\ndata: {sequences: [a, b]}",
        "sequence_length: expected",
    ),
    "validation split too large": (
        {"t.txt": b"abababababab"},
        "data: {text_file: t.txt}\ntrain: {validation_split: 0.9}",
        "train.validation_split: expected a split",
    ),
    "vocab auto of one token": ({"t.txt": b"aaaaaaa"}, "vocab: auto\ndata: {text_file: t.txt}", "vocab"),
    "unknown token in the data": ({"t.txt": b"abcabc"}, "data: {text_file: t.txt}", "'c'"),
}


def _config(tmp_path: Path, files: dict[str, bytes], body: str) -> Path:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    head = "" if "vocab:" in body else "vocab: [a, b]\n"
    head += "" if "sequence_length:" in body else "sequence_length: 3\n"
    path = tmp_path / "c.yaml"
    path.write_text(head + body + "\n")
    return path


@pytest.mark.parametrize("case", CASES)
def test_validate_rejects_what_train_rejects_with_the_same_message(runner, tmp_path, case) -> None:
    files, body, fragment = CASES[case]
    cfg = _config(tmp_path, files, body)
    val = invoke(runner, "config", "validate", cfg)
    assert val.exit_code == 2, val.output
    assert fragment in val.stderr
    trained = invoke(runner, "train", cfg, "--out", tmp_path / "run")
    assert trained.exit_code == 2
    assert trained.stderr == val.stderr  # one code path, one message
    assert not (tmp_path / "run").exists()
    quick = invoke(runner, "config", "validate", cfg, "--schema-only")
    assert quick.exit_code == 0 and quick.stdout == f"{cfg}: ok\n"
    doc = json.loads(invoke(runner, "config", "validate", cfg, "--json").stdout)
    assert doc == {
        "valid": False,
        "configs": [{"config": str(cfg), "valid": False, "errors": [doc["configs"][0]["errors"][0]]}],
    }
    assert fragment in doc["configs"][0]["errors"][0]


def test_full_validate_of_every_shipped_config_imports_no_tensorflow() -> None:
    shipped = sorted(str(p) for p in (ROOT / "configs").glob("*.yaml"))
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from lstmcli.cli import app\n"
        f"r = CliRunner().invoke(app, ['config', 'validate', *{shipped!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False False", done.stderr


@pytest.mark.parametrize(
    ("text", "value"),
    [("1e-3", 1e-3), ("5E-4", 5e-4), (".5", 0.5), ("1_000", 1000), ("0x10", 16), ("010", 10), ("2.", 2.0)],
)
def test_yaml_12_numbers(text, value) -> None:
    got = config.load_yaml(f"v: {text}")["v"]
    assert got == value and type(got) is type(value)


def test_learning_rate_as_people_write_it(runner, tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_hello_with("learning_rate: 1e-3", "epochs: 1_000"))
    r = invoke(runner, "config", "show", cfg, "--json", "--set", "train.batch_size=3")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)["train"]
    assert shown["learning_rate"] == 1e-3 and shown["epochs"] == 1000
    r = invoke(runner, "config", "show", cfg, "--json", "--set", "train.learning_rate=5E-4")
    assert json.loads(r.stdout)["train"]["learning_rate"] == 5e-4


def _hello_with(*train: str) -> str:
    return "vocab: [h, e, l, o]\nsequence_length: 5\ndata: {sequences: [hello]}\ntrain:\n" + "".join(
        f"  {t}\n" for t in train
    )


@pytest.mark.parametrize("word", ["yes", "on", "no"])
def test_booleans_stay_strict(runner, tmp_path, word) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_hello_with(f"learning_rate: {word}"))
    r = invoke(runner, "config", "validate", cfg)
    assert r.exit_code == 2 and "train.learning_rate: expected a number, got boolean" in r.stderr


def test_duplicate_keys_name_the_key_and_both_lines(runner, tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_hello_with("epochs: 3", "batch_size: 1", "epochs: 4"))
    r = invoke(runner, "config", "validate", cfg)
    assert r.exit_code == 2
    assert (
        r.stderr.strip()
        == f"Error: {cfg}: line 7: invalid YAML: duplicate key 'epochs' (first at line 5, again at line 7)"
    )
    # A YAML merge key then an override of what it merged is not a duplicate.
    assert config.load_yaml("a: &b {x: 1}\nc: {<<: *b, x: 2}")["c"] == {"x": 2}


def test_a_wall_of_errors_is_cut_to_ten_lines(runner, tmp_path) -> None:
    nest = [[[1] * 9] * 9]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"vocab: [a, b]\nsequence_length: 3\ndata: {{sequences: {nest[0]}}}\n")
    r = invoke(runner, "config", "validate", cfg)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    total = len(
        json.loads(invoke(runner, "config", "validate", cfg, "--json").stdout)["configs"][0]["errors"]
    )
    assert total > 10
    assert len(lines) == 11 and all(line.startswith("Error: ") for line in lines[:10])
    assert lines[10] == f"… and {total - 10} more errors"
    every = invoke(runner, "config", "validate", cfg, "--all").stderr.strip().splitlines()
    assert len(every) == total and all(line.startswith("Error: ") for line in every)
    trained = invoke(runner, "train", cfg).stderr.strip().splitlines()
    assert trained == lines
