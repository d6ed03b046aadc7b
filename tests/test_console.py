"""The real console script end to end: exit codes, clean stderr, JSON on stdout only."""

from __future__ import annotations

import json

import pytest

from conftest import HELLO, NOISE, lstmcli


def test_inspect_stderr_is_clean_and_stdout_is_one_json_document() -> None:
    done = lstmcli("inspect", HELLO, "--json")
    assert done.returncode == 0, done.stderr
    assert not NOISE.search(done.stderr), done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["shapes"]["x"] == [3, 5, 4]


def test_exit_code_2_for_bad_config_through_the_script(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("vocab: [h, e]\nsequence_length: 2\nmodel: {units: yes}\ndata: {sequences: [he]}\n")
    done = lstmcli("train", bad, "--out", tmp_path / "run")
    assert done.returncode == 2
    assert done.stderr.strip() == f"Error: {bad}: model.units: expected an integer, got boolean true"
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_quickstart_learns_hello(tmp_path) -> None:
    out = tmp_path / "hello"
    done = lstmcli("train", HELLO, "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    assert not NOISE.search(done.stderr), done.stderr
    record = json.loads(done.stdout)
    assert record["run_dir"] == str(out)
    assert record["metrics"]["accuracy"] == 1.0
    done = lstmcli("predict", out, "-", "--json", input="hell\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["next"][0]["token"] == "o"
