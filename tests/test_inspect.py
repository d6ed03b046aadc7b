"""inspect on hello.yaml: the exact one-hot input, outputs == hidden state, seeded weights."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import HELLO, invoke, run_json
from lstmcli.cli import app

ONE_HOT = {"h": [1, 0, 0, 0], "e": [0, 1, 0, 0], "l": [0, 0, 1, 0], "o": [0, 0, 0, 1]}


def test_hello_shapes_and_exact_one_hot_rows(runner) -> None:
    r = run_json(runner, "inspect", HELLO)
    assert r["inputs"] == [list("hello"), list("eolll"), list("lleel")]
    x = np.array(r["x"])
    assert x.shape == (3, 5, 4)
    for seq, rows in zip(["hello", "eolll", "lleel"], x, strict=True):
        assert rows.tolist() == [ONE_HOT[c] for c in seq]
    assert np.array(r["outputs"]).shape == (3, 2)
    assert np.array(r["hidden_state"]).shape == (3, 2)
    assert np.array(r["cell_state"]).shape == (3, 2)
    assert r["shapes"] == {"x": [3, 5, 4], "outputs": [3, 2], "hidden_state": [3, 2], "cell_state": [3, 2]}
    # return_sequences is false: the output is the last hidden state, exactly.
    assert r["outputs"] == r["hidden_state"]
    # A real LSTM ran: states are bounded and not all zero.
    h = np.array(r["hidden_state"])
    c = np.array(r["cell_state"])
    assert np.all(np.abs(h) < 1) and np.any(h != 0) and np.any(c != 0)
    assert not np.allclose(h[0], h[1])


def test_same_seed_same_numbers_other_seed_other_numbers(runner) -> None:
    a = run_json(runner, "inspect", HELLO)
    b = run_json(runner, "inspect", HELLO)
    c = run_json(runner, "inspect", HELLO, "--set", "seed=7")
    assert a["cell_state"] == b["cell_state"]
    assert a["cell_state"] != c["cell_state"]


def test_inputs_and_return_sequences(runner) -> None:
    r = run_json(
        runner, "inspect", HELLO, "--input", "hell", "--input", "oh", "--set", "model.return_sequences=true"
    )
    assert r["inputs"] == [list("hell"), list("oh")]
    assert [len(o) for o in r["outputs"]] == [4, 2]  # whole hidden sequence, ragged lengths
    assert r["shapes"]["outputs"] == [2, None, 2]
    # The last output of each sequence is its final hidden state.
    for out, h in zip(r["outputs"], r["hidden_state"], strict=True):
        assert np.allclose(out[-1], h)


def test_table_output(runner) -> None:
    result = invoke(runner, "inspect", HELLO, "--precision", "3")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for title in ("input (3, 5, 4)", "outputs (3, 2)", "hidden state (3, 2)", "cell state (3, 2)"):
        assert title in text
    assert "unit 0" in text and "unit 1" in text
    assert "\x1b[" not in text  # not a terminal: no escape codes


def test_unknown_token_in_input(runner) -> None:
    result = invoke(runner, "inspect", HELLO, "--input", "help")
    assert result.exit_code == 2
    assert "expected tokens from the vocabulary [h, e, l, o], got 'p'" in result.stderr


TEXT = Path(__file__).resolve().parents[1] / "configs" / "text.yaml"


@pytest.mark.parametrize("units", [64, 512])
def test_inspect_tables_read_on_80_columns(runner, units) -> None:
    # Issue 11: at 64 units every cell of configs/text.yaml showed "…" on an 80-column terminal.
    r = runner.invoke(app, ["inspect", str(TEXT), "--set", f"model.units={units}"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "│ … │" not in r.stdout and "hot index (of 40)" in r.stdout
    assert f"units 0–4 of {units} shown" in r.stdout
    numbers = [line for line in lines if line.startswith("│ The Keeper")]
    assert numbers and all(len(re.findall(r"-?\d\.\d{4}", line)) == 5 for line in numbers)


def test_units_selection(runner) -> None:
    r = runner.invoke(app, ["inspect", str(TEXT), "--set", "model.units=512", "--units", "500:503"])
    assert r.exit_code == 0, r.output
    assert "unit 500" in r.stdout and "unit 502" in r.stdout and "unit 503" not in r.stdout
    assert "units 500–502 of 512 shown" in r.stdout
    bad = runner.invoke(app, ["inspect", str(TEXT), "--units", "70:80"])
    assert bad.exit_code == 2 and "--units: expected units within 0:64, got '70:80'" in bad.stderr


def test_help_keeps_its_brackets(runner) -> None:
    text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).stdout
    assert "[default: runs/<config-stem>-<time>]" in text
    assert "lstmcli[plot]" in text
    assert "lstmcli[plot]" in runner.invoke(app, ["inspect", "--help"], env={"COLUMNS": "200"}).stdout
