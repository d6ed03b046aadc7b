"""Experiments and CI: config init, run.json, reproducing a run, quality gates, runs/compare,
and output fit for pipelines."""

from __future__ import annotations

import json

import pytest

from conftest import HELLO, invoke, lstmcli, run_json, weights_sha256


def test_config_init_writes_a_starter_that_trains_as_it_is(runner, tmp_path) -> None:
    path = tmp_path / "my.yaml"
    result = invoke(runner, "config", "init", path)
    assert result.exit_code == 0, result.output
    assert path.read_text().startswith("# lstmcli starter config")
    again = invoke(runner, "config", "init", path)
    assert again.exit_code == 2 and "already exists" in again.stderr
    printed = invoke(runner, "config", "init", "-")
    assert printed.stdout == path.read_text()
    r = run_json(runner, "train", path, "--out", tmp_path / "run")
    assert r["metrics"]["accuracy"] > 0.9


def test_run_json_describes_the_run(hello_run) -> None:
    record = json.loads((hello_run / "run.json").read_text())
    for key in (
        "lstmcli",
        "python",
        "numpy",
        "tensorflow",
        "keras",
        "seed",
        "started",
        "finished",
        "wall_seconds",
        "config_sha256",
        "cpu",
        "train_tokens_per_second",
    ):
        assert record.get(key) is not None, key
    assert len(record["config_sha256"]) == 64
    metrics = json.loads((hello_run / "metrics.json").read_text())
    assert all(isinstance(v, (int, float)) for v in metrics.values())  # flat, for dvc


def test_training_the_runs_config_reproduces_it(runner, hello_run, tmp_path) -> None:
    again = tmp_path / "again"
    run_json(runner, "train", hello_run / "config.yaml", "--out", again)
    assert weights_sha256(again / "model.keras") == weights_sha256(hello_run / "model.keras")
    a = json.loads((hello_run / "run.json").read_text())["config_sha256"]
    b = json.loads((again / "run.json").read_text())["config_sha256"]
    assert a == b


def test_requirements(runner, tmp_path) -> None:
    ok = run_json(
        runner,
        "train",
        HELLO,
        "--out",
        tmp_path / "ok",
        "--set",
        "train.epochs=5",
        "--require",
        "loss<100",
        "--require",
        "accuracy >= 0",
    )
    assert [r["met"] for r in ok["requirements"]] == [True, True]
    unmet = invoke(
        runner,
        "train",
        HELLO,
        "--out",
        tmp_path / "unmet",
        "--set",
        "train.epochs=5",
        "--require",
        "accuracy>=0.99",
    )
    assert unmet.exit_code == 3
    assert "requirement 'accuracy>=0.99' not met: accuracy = " in unmet.stderr
    assert json.loads((tmp_path / "unmet" / "metrics.json").read_text())  # the run is saved
    for bad, fragment in [
        ("accuracy=0.9", "expected METRIC OP NUMBER"),
        ("accuracy>=high", "expected a number after >="),
        ("val_loss<=0.3", "this run has no metric 'val_loss'"),
    ]:
        r = invoke(runner, "train", HELLO, "--out", tmp_path / "never", "--require", bad)
        assert r.exit_code == 2, bad
        assert fragment in r.stderr
        assert not (tmp_path / "never").exists()


def test_runs_and_compare(runner, tmp_path) -> None:
    root = tmp_path / "runs"
    run_json(runner, "train", HELLO, "--out", root / "a", "--set", "train.epochs=3")
    run_json(runner, "train", HELLO, "--out", root / "b", "--set", "train.epochs=4", "--set", "model.units=3")
    (root / "not-a-run").mkdir()
    listed = run_json(runner, "runs", root)
    assert [r["name"] for r in listed["runs"]] == ["a", "b"]
    assert listed["runs"][1]["config"]["model.units"] == 3
    assert set(listed["runs"][0]["metrics"]) == {"loss", "accuracy"}
    cmp = run_json(runner, "compare", root / "a", root / "b")
    differs = {row["key"] for row in cmp["config"] if row["differs"]}
    assert differs == {"model.units", "train.epochs"}
    assert {m["name"] for m in cmp["metrics"]} == {"loss", "accuracy"}
    table = invoke(runner, "compare", root / "a", root / "b")
    assert "model.units ≠" in table.stdout
    bad = invoke(runner, "compare", root / "a", root / "not-a-run")
    assert bad.exit_code == 2 and "not a run directory" in bad.stderr


def test_no_escape_codes_when_not_a_terminal(runner, hello_run) -> None:
    for args in (
        ["inspect", HELLO, "--gates"],
        ["predict", hello_run, "hell"],
        ["runs", hello_run.parent],
        ["config", "show", HELLO],
        ["--help"],
    ):
        # Through the real console script with stdout and stderr on pipes (CliRunner is never a
        # terminal, so it could not tell).
        done = lstmcli(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "\x1b[" not in done.stdout and "\x1b[" not in done.stderr, args


def test_pipeline_through_the_console_script(hello_run) -> None:
    done = lstmcli("predict", hello_run, "-", "--json", input="hell\nhe\n")
    assert done.returncode == 0, done.stderr
    assert [r["input"] for r in json.loads(done.stdout)["results"]] == ["hell", "he"]
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["train", HELLO, "--set", "train.epochs=2", "--require", "accuracy>=1.01"], 3),
        (["train", HELLO, "--set", "model.unitz=2"], 2),
        (["nosuchcommand"], 2),
    ],
)
def test_exit_codes_through_the_console_script(tmp_path, args, code) -> None:
    done = lstmcli(*args, "--out", tmp_path / "run") if args[0] == "train" else lstmcli(*args)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
