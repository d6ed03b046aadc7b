"""A checkpoint is one unit: model.keras (with the optimizer), history.csv and checkpoint.json are
the previous set or the new one after a crash at any moment, a second Ctrl-C waits for the write,
and a run directory whose files disagree is refused on resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from conftest import HELLO, invoke, run_json
from lstmcli import runs

SETS = ["--set", "train.batch_size=1", "--set", "train.epochs=4", "--set", "train.checkpoint_every=1"]


def _old_set(path: Path) -> runs.RunDir:
    path.mkdir()
    for name in ("model.keras", "history.csv", "checkpoint.json"):
        (path / name).write_text(f"old {name}")
    return runs.RunDir(path)


def _new_set(fail_at: str | None = None) -> dict:
    def writer(name: str):
        def write(p: Path) -> None:
            if name == fail_at:
                raise KeyboardInterrupt  # the crash, in the middle of the set
            p.write_text(f"new {name}")

        return write

    return {name: writer(name) for name in ("model.keras", "history.csv", "checkpoint.json")}


def _contents(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(path.iterdir())}


@pytest.mark.parametrize("fail_at", ["model.keras", "history.csv", "checkpoint.json"])
def test_a_set_cut_short_while_written_leaves_the_previous_set(tmp_path, fail_at) -> None:
    run = _old_set(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        run.write_set(_new_set(fail_at))
    run.recover()
    assert _contents(run.path) == {n: f"old {n}" for n in ("checkpoint.json", "history.csv", "model.keras")}


@pytest.mark.parametrize("moved", [0, 1, 2])
def test_a_committed_set_cut_short_while_moved_is_completed(tmp_path, monkeypatch, moved) -> None:
    run = _old_set(tmp_path / "run")
    real, calls = os.replace, []

    def replace(src, dst):
        if Path(src).parent.name == runs.COMMITTED_SET:
            if len(calls) == moved:
                raise KeyboardInterrupt  # the crash, after the commit, `moved` files in
            calls.append(dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        run.write_set(_new_set())
    monkeypatch.setattr(os, "replace", real)
    assert (run.path / "checkpoint.json").read_text() == "old checkpoint.json"  # the state moves last
    run.recover()
    assert _contents(run.path) == {n: f"new {n}" for n in ("checkpoint.json", "history.csv", "model.keras")}


def test_the_second_ctrl_c_waits_for_the_checkpoint_write(runner, tmp_path, monkeypatch) -> None:
    """Two SIGINTs while epoch 2's checkpoint is written: the write completes, then training stops."""
    real = runs.write_history

    def write_history(final: Path, rows: list, *rest: Path) -> None:
        if len(rows) == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        real(final, rows, *rest)

    monkeypatch.setattr(runs, "write_history", write_history)
    out = tmp_path / "run"
    result = invoke(runner, "train", HELLO, "--out", out, *SETS)
    assert result.exit_code == 130
    monkeypatch.setattr(runs, "write_history", real)
    state = json.loads((out / "checkpoint.json").read_text())
    assert state["epoch"] == 2
    assert len((out / "history.csv").read_text().splitlines()) == 3
    r = run_json(runner, "train", "--resume", out)  # model and state agree (checked on resume)
    assert r["epochs"] == 4


def test_resume_refuses_a_model_from_another_checkpoint(runner, tmp_path) -> None:
    out, later = tmp_path / "run", tmp_path / "later"
    run_json(runner, "train", HELLO, "--out", out, *SETS, "--set", "train.epochs=2")
    run_json(runner, "train", HELLO, "--out", later, *SETS, "--set", "train.epochs=3")
    state = json.loads((out / "checkpoint.json").read_text())
    state["finished"] = False
    state["epoch"] = 1  # checkpoint.json of epoch 1 beside a model of epoch 3
    (out / "checkpoint.json").write_text(json.dumps(state))
    shutil.copyfile(later / "model.keras", out / "model.keras")
    r = invoke(runner, "train", "--resume", out)
    assert r.exit_code == 2, r.output
    assert "expected a model trained 3 steps" in r.stderr and "got one trained 9 steps" in r.stderr
