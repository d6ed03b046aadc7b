"""train → run directory → predict, and the saved model in plain Keras."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import HELLO, invoke, run_json


def test_run_directory_contents(hello_run) -> None:
    names = {p.name for p in hello_run.iterdir()}
    assert {"model.keras", "config.yaml", "history.csv", "metrics.json", "run.json"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    metrics = json.loads((hello_run / "metrics.json").read_text())
    assert set(metrics) >= {"loss", "accuracy"}
    assert all(isinstance(v, float) for v in metrics.values())
    with (hello_run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 300
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert float(rows[-1]["tokens_per_second"]) > 0


def test_hell_predicts_o(runner, hello_run) -> None:
    r = run_json(runner, "predict", hello_run, "hell")
    (item,) = r["results"]
    assert item["input"] == "hell"
    assert item["next"][0]["token"] == "o"
    probs = [n["probability"] for n in item["next"]]
    assert probs == sorted(probs, reverse=True)


def test_plain_keras_loads_model_and_agrees_with_predict(runner, hello_run) -> None:
    import keras

    model = keras.models.load_model(hello_run / "model.keras")  # safe mode, no custom objects
    x = np.eye(4, dtype="float32")[[[0, 1, 2, 2]]]
    probs = np.asarray(model.predict(x, verbose=0))[0, -1]
    r = run_json(runner, "predict", hello_run, "hell", "--top-k", "4")
    got = {n["token"]: n["probability"] for n in r["results"][0]["next"]}
    for token, p in zip("helo", probs, strict=True):
        assert got[token] == pytest.approx(float(p), abs=1e-5)


def test_generation_greedy_and_seeded_sampling(runner, hello_run) -> None:
    greedy = run_json(runner, "predict", hello_run, "he", "--steps", "3")
    assert greedy["results"][0]["generated"] == "llo"
    a = run_json(runner, "predict", hello_run, "h", "--steps", "8", "--temperature", "1.5", "--seed", "3")
    b = run_json(runner, "predict", hello_run, "h", "--steps", "8", "--temperature", "1.5", "--seed", "3")
    assert a["results"] == b["results"]
    assert len(a["results"][0]["generated_tokens"]) == 8


def test_temperature_changes_what_is_sampled(runner, hello_run) -> None:
    # Fails if --temperature were ignored: greedy decoding would give the same text every time.
    greedy = run_json(runner, "predict", hello_run, "h", "--steps", "12")["results"][0]["generated"]

    def sampled(t: str, seed: int) -> str:
        r = run_json(
            runner, "predict", hello_run, "h", "--steps", "12", "--temperature", t, "--seed", str(seed)
        )
        return str(r["results"][0]["generated"])

    hot = {sampled("5", seed) for seed in range(6)}
    assert hot - {greedy}, "a high temperature never left the greedy path"
    assert len(hot) > 1  # and different seeds draw different texts
    # A temperature near zero sharpens the distribution back to greedy.
    assert {sampled("0.01", seed) for seed in range(3)} == {greedy}


def test_predict_reads_stdin(runner, hello_run) -> None:
    r = run_json(runner, "predict", hello_run, "-", input="hell\nhe\n")
    assert [item["input"] for item in r["results"]] == ["hell", "he"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["hexl"], "input 'hexl': expected tokens from the vocabulary [h, e, l, o], got 'x' at position 2"),
        ([""], "expected at least one token, got an empty text"),
        (["hell", "--top-k", "0"], "--top-k: expected a positive integer, got 0"),
        (["hell", "--temperature", "-1"], "--temperature: expected a number >= 0, got -1"),
    ],
)
def test_bad_predict_input(runner, hello_run, args, fragment) -> None:
    result = invoke(runner, "predict", hello_run, *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_predict_on_missing_or_broken_run(runner, tmp_path) -> None:
    result = invoke(runner, "predict", tmp_path / "nope", "hell")
    assert result.exit_code == 2 and "no such run directory" in result.stderr
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text(HELLO.read_text())
    result = invoke(runner, "predict", tmp_path / "half", "hell")
    assert result.exit_code == 2 and "model.keras is missing" in result.stderr


def test_existing_run_directory_is_never_overwritten(runner, tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke(runner, "train", HELLO, "--out", out, "--set", "train.epochs=1")
    assert result.exit_code == 2
    assert "not empty" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"
    # --force replaces only a run directory lstmcli made: a folder of the user's stays (issue 11).
    result = invoke(runner, "train", HELLO, "--out", out, "--set", "train.epochs=1", "--force")
    assert result.exit_code == 2
    assert "--force replaces only a run directory lstmcli made" in result.stderr
    assert "'keep.txt'" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    (out / "keep.txt").unlink()  # an empty folder may be used
    run_json(runner, "train", HELLO, "--out", out, "--set", "train.epochs=1")
    r = run_json(runner, "train", HELLO, "--out", out, "--set", "train.epochs=2", "--force")
    assert r["run_dir"] == str(out) and r["epochs"] == 2


def test_inspect_a_run_directory_uses_trained_weights(runner, hello_run) -> None:
    trained = run_json(runner, "inspect", hello_run)
    seeded = run_json(runner, "inspect", HELLO)
    assert trained["source"] == "run directory"
    assert trained["inputs"] == seeded["inputs"]
    assert trained["hidden_state"] != seeded["hidden_state"]
