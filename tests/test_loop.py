"""lstmcli's own training loop: deterministic mid-epoch and mid-validation interrupts, resume,
extending a finished run, and what --resume may override."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from conftest import HELLO, invoke, run_json, weights_sha256
from lstmcli import config
from lstmcli.errors import Interrupted
from lstmcli.training import loop as training

# hello with one sequence held out: two training steps and one validation step an epoch.
SETS = [
    "train.batch_size=1",
    "train.epochs=6",
    "train.checkpoint_every=1",
    "train.validation_split=0.34",
]


class SignalAt:
    """A progress listener that sends SIGTERM to this process at one exact step of one epoch:
    the interrupt lands at the same batch on every run, whatever the machine's speed."""

    def __init__(self, epoch: int, step: int) -> None:
        self.at = (epoch, step)
        self.epoch = -1

    def epoch_begin(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        self.epoch = epoch

    def step(self, done: int, tokens_per_second: float, shown: dict[str, float]) -> None:
        if (self.epoch, done) == self.at:
            os.kill(os.getpid(), signal.SIGTERM)

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


def _interrupted_run(out: Path, epoch: int, step: int) -> dict:
    # One step a call, so the stop lands exactly after `step` whatever auto would pick; the
    # unbroken run it is compared with ran auto's calls.
    cfg = config.load(HELLO, [*SETS, "train.steps_per_call=1"])
    prep = training.prepare(cfg)
    training.create_run_dir(prep, out, force=False)
    with pytest.raises(Interrupted) as stopped:
        training.train(prep, out, progress=SignalAt(epoch, step))
    assert "Resume with: lstmcli train --resume" in stopped.value.message
    return json.loads((out / "checkpoint.json").read_text())


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unbroken") / "run"
    run_json(_runner(), "train", HELLO, "--out", out, *_sets())
    return out


def _runner():
    from typer.testing import CliRunner

    return CliRunner()


def _sets(extra: list[str] | None = None) -> list[str]:
    return [a for s in SETS + (extra or []) for a in ("--set", s)]


def _history(run: Path) -> list[dict[str, str]]:
    import csv

    with (run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        del r["seconds"], r["tokens_per_second"]  # wall-clock figures
    return rows


def test_interrupt_in_the_middle_of_an_epoch_resumes_bit_identical(runner, tmp_path, unbroken) -> None:
    out = tmp_path / "run"
    state = _interrupted_run(out, epoch=2, step=1)  # epoch 3, after its first of two batches
    assert (state["epoch"], state["step"]) == (2, 1)
    assert state["partial"]["sequences"] == 1.0  # the epoch's running sums travel with it
    run_json(runner, "train", "--resume", out)
    assert weights_sha256(out / "model.keras") == weights_sha256(unbroken / "model.keras")
    # Every row, the interrupted epoch's included, is what the unbroken run recorded.
    assert _history(out) == _history(unbroken)
    assert [r["epoch"] for r in _history(out)] == ["1", "2", "3", "4", "5", "6"]


def test_interrupt_during_validation_keeps_the_trained_epoch(runner, tmp_path, unbroken) -> None:
    out = tmp_path / "run"
    # The signal lands at the last training batch of epoch 4: the stop happens in its validation.
    state = _interrupted_run(out, epoch=3, step=2)
    assert (state["epoch"], state["step"]) == (3, 2)  # both batches done, validation not
    run_json(runner, "train", "--resume", out)
    assert weights_sha256(out / "model.keras") == weights_sha256(unbroken / "model.keras")
    assert _history(out) == _history(unbroken)


def test_a_finished_run_can_be_extended(runner, tmp_path, unbroken) -> None:
    out = tmp_path / "run"
    run_json(runner, "train", HELLO, "--out", out, *_sets(["train.epochs=4"]))
    done = invoke(runner, "train", "--resume", out)
    assert done.exit_code == 2 and "already complete (4 epochs)" in done.stderr
    assert "--set train.epochs=" in done.stderr  # says how to go on
    r = run_json(runner, "train", "--resume", out, "--set", "train.epochs=6")
    assert r["epochs"] == 6
    # Four epochs then two more are the six epochs of an unbroken run, bit for bit.
    assert weights_sha256(out / "model.keras") == weights_sha256(unbroken / "model.keras")
    assert _history(out) == _history(unbroken)
    assert config.load(out / "config.yaml").train.epochs == 6  # the run describes itself


@pytest.mark.parametrize("key", ["model.units=8", "train.batch_size=2", "seed=3", "data.stride=2"])
def test_resume_refuses_keys_that_change_the_model_or_the_data(runner, tmp_path, hello_run, key) -> None:
    before = (hello_run / "config.yaml").read_text()
    done = invoke(runner, "train", "--resume", hello_run, "--set", key)
    assert done.exit_code == 2
    assert f"got {key.split('=')[0]}" in done.stderr and "train.epochs" in done.stderr
    assert (hello_run / "config.yaml").read_text() == before
