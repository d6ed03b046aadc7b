"""Checkpoints, --resume, SIGINT/SIGTERM (exit 130), NaN losses, and SIGKILL at random moments."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HELLO, invoke, run_json, weights_sha256

# Three steps an epoch (batch 1), so a signal usually lands mid-epoch.
# The path pinned (the fast kernel, no XLA): auto weighs the planned steps, and the signal test's
# 100,000 epochs would take another path than the unbroken 60 (other rounding). A resume keeps the
# path its run started with; runs of other lengths are compared on one path.
SETS = [
    *("--set", "train.batch_size=1", "--set", "train.epochs=60", "--set", "train.checkpoint_every=1"),
    *("--set", "train.kernel=fast", "--set", "train.jit_compile=false"),
]


def _start(out: Path, *extra: str) -> subprocess.Popen:
    # The real console script, so exit codes are checked as users see them.
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"
    cmd = [exe, "train", str(HELLO), "--out", str(out), *SETS, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_epoch(out: Path, proc: subprocess.Popen, epoch: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if json.loads((out / "checkpoint.json").read_text())["epoch"] >= epoch:
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("training made no progress")


def _signal_paused(proc: subprocess.Popen, sig: int) -> None:
    """Pause the process, send `sig`, resume it: the signal is handled where the process was
    when the test saw it ready, not some epochs later."""
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unbroken") / "run"
    result = invoke(_runner(), "train", HELLO, "--out", out, *SETS, "--json")
    assert result.exit_code == 0, result.output
    return out


def _runner():
    from typer.testing import CliRunner

    return CliRunner()


# SIGTERM takes the same path as SIGINT (one handler); CI's slow run checks it end to end too.
@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_signal_saves_a_checkpoint_and_resume_is_bit_identical(runner, tmp_path, unbroken, sig) -> None:
    out = tmp_path / "run"
    # Far more epochs than it will train: the loop (and its handler) is certainly still running
    # when the signal lands; the resume below sets the 60 epochs of the unbroken run.
    proc = _start(out, "--set", "train.epochs=100000")
    _wait_for_epoch(out, proc, 3)  # the readiness marker: a checkpoint written by the loop
    _signal_paused(proc, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"Resume with: lstmcli train --resume {out}" in err
    assert "Traceback" not in err
    state = json.loads((out / "checkpoint.json").read_text())
    assert not state["finished"] and state["epoch"] < 60
    assert not (out / "metrics.json").exists()
    r = run_json(runner, "train", "--resume", out, "--set", "train.epochs=60")
    assert r["epochs"] == 60
    assert weights_sha256(out / "model.keras") == weights_sha256(unbroken / "model.keras")
    a = json.loads((out / "metrics.json").read_text())
    b = json.loads((unbroken / "metrics.json").read_text())
    assert a == pytest.approx(b, abs=1e-6)
    assert len((out / "history.csv").read_text().splitlines()) == 61
    again = invoke(runner, "train", "--resume", out)
    assert again.exit_code == 2 and "already complete" in again.stderr


@pytest.mark.parametrize(
    ("per_call", "poisoned_from", "step"),
    [("auto", 20, 3), ("1", 20, 3), ("3", 19, 2)],  # 3: the NaN in the middle of one call's 3 steps
)
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    runner, tmp_path, monkeypatch, per_call, poisoned_from, step
) -> None:
    import keras
    import tensorflow as tf

    from lstmcli.model import backend

    def poisoned_compile(model, cfg, steps_per_epoch=1):
        base = keras.losses.SparseCategoricalCrossentropy()

        def loss(y, p):  # finite for `poisoned_from` steps, then NaN
            value = base(y, p)
            return tf.where(model.optimizer.iterations >= poisoned_from, tf.constant(float("nan")), value)

        model.compile(optimizer=backend.make_optimizer(cfg, steps_per_epoch), loss=loss, metrics=["accuracy"])

    def load_poisoned(path):
        model = keras.models.load_model(path, compile=False)
        poisoned_compile(model, load_poisoned.cfg)
        return model

    from lstmcli.config import load

    load_poisoned.cfg = load(HELLO)
    monkeypatch.setattr(backend, "compile_model", poisoned_compile)
    monkeypatch.setattr(backend, "load_model_for_training", load_poisoned)
    out = tmp_path / "run"
    result = invoke(runner, "train", HELLO, "--out", out, *SETS, "--set", f"train.steps_per_call={per_call}")
    assert result.exit_code == 1
    assert f"the loss became NaN or infinite at epoch 7, step {step}" in result.stderr
    assert "keeps the last good checkpoint (epoch 6)" in result.stderr
    state = json.loads((out / "checkpoint.json").read_text())
    assert state["epoch"] == 6
    model = keras.models.load_model(out / "model.keras", compile=False)
    assert all(bool(tf.reduce_all(tf.math.is_finite(w))) for w in model.weights)


def test_resume_errors(runner, tmp_path, hello_run) -> None:
    r = invoke(runner, "train", HELLO, "--resume", hello_run)
    assert r.exit_code == 2 and "give no CONFIG" in r.stderr
    r = invoke(runner, "train", "--resume", tmp_path / "nope")
    assert r.exit_code == 2 and "no such run directory" in r.stderr
    r = invoke(runner, "train")
    assert r.exit_code == 2 and "expected a CONFIG file" in r.stderr


# Two layers with dropout, one sequence held out: two training steps and one validation step an
# epoch; a checkpoint every epoch.
KILLED = [
    "train.batch_size=1",
    "train.epochs=10",
    "train.checkpoint_every=1",
    "train.validation_split=0.34",
    "model.num_layers=2",
    "model.dropout=0.1",
]


def _killable(out: Path, at: str = "") -> subprocess.Popen:
    from conftest import ROOT

    cmd = [sys.executable, str(ROOT / "tests" / "killable.py"), str(HELLO), str(out)]
    cmd += [a for s in KILLED for a in ("--set", s)] + (["--at", at] if at else [])
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _losses(run: Path) -> list[tuple[str, ...]]:
    import csv

    with (run / "history.csv").open() as f:
        return [(r["epoch"], r["loss"], r["val_loss"], r["accuracy"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_sigkill_at_any_moment_and_resume_ends_bit_identical(tmp_path) -> None:
    """SIGKILL between steps, during validation, at every phase of a checkpoint's writes and at
    random moments; resumed after each kill, the run ends as the run left alone, bit for bit."""
    unbroken = tmp_path / "unbroken"
    done = _killable(unbroken)
    assert done.communicate(timeout=600) and done.returncode == 0
    out = tmp_path / "run"
    # Exact moments first: after step 1 of epoch 2; in the 3rd validation step of a process;
    # at the 2nd, 4th, 5th, 7th and 11th file rename into the run directory (a checkpoint writes
    # history.csv and checkpoint.json into its hidden folder, commits that with one rename, then
    # moves three files: every phase of a write is hit).
    moments = ["kill:1:1", "val:3", "write:2", "write:4", "write:5", "write:7", "write:11"]
    rng = random.Random(18)
    kills = 0
    for at in [*moments, "random", "random", "random"]:
        before = json.loads((out / "checkpoint.json").read_text())["epoch"] if out.exists() else 0
        proc = _killable(out, "" if at == "random" else at)
        if at == "random":
            # Ready once it has written a checkpoint of its own; then a kill at a random moment.
            deadline = time.monotonic() + 600
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if json.loads((out / "checkpoint.json").read_text())["epoch"] > before:
                        break
                except (FileNotFoundError, ValueError, KeyError):
                    pass
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
        code = proc.returncode
        assert "Traceback" not in err, err
        if code == 0:
            break  # trained to the end before the kill landed
        assert code == -signal.SIGKILL, (at, code, err)
        if json.loads((out / "checkpoint.json").read_text())["finished"]:
            break  # the kill landed after the last write, as the process ended
        kills += 1
    assert kills >= 5
    if not json.loads((out / "checkpoint.json").read_text())["finished"]:
        done = _killable(out)
        _, err = done.communicate(timeout=600)
        assert done.returncode == 0, err
    assert weights_sha256(out / "model.keras") == weights_sha256(unbroken / "model.keras")
    assert _losses(out) == _losses(unbroken)
    assert len(_losses(out)) == 10
    print(f"survived {kills} kills")  # 9 on the last run here (pytest -s shows it)


def test_early_stopping_keeps_the_best_model(runner, tmp_path, monkeypatch) -> None:
    from conftest import ROOT
    from lstmcli import runs

    written: list[int] = []  # the epoch of every checkpoint actually written
    real = runs.RunDir.checkpoint

    def counting(self, save, history, state):
        real(self, save, history, state)
        written.append(state["epoch"])

    monkeypatch.setattr(runs.RunDir, "checkpoint", counting)
    out = tmp_path / "run"
    r = run_json(
        runner,
        "train",
        ROOT / "configs" / "jsonl.yaml",
        "--out",
        out,
        "--set",
        "train.epochs=400",
        "--set",
        "train.validation_split=0.3",
        "--set",
        "train.early_stopping.patience=2",
        "--set",
        "train.learning_rate=0.05",
    )
    record = json.loads((out / "run.json").read_text())
    assert record["stopped_early"] is True and r["epochs"] < 400
    best = record["best_epoch"]
    rows = (out / "history.csv").read_text().splitlines()
    header = rows[0].split(",")
    vals = [dict(zip(header, map(float, line.split(",")), strict=True)) for line in rows[1:]]
    assert best == min(vals, key=lambda v: v["val_loss"])["epoch"]
    assert r["epochs"] == best + 2  # patience 2
    # train.checkpoint_every (1 by default) holds through the plateau too, not only at the
    # improving epochs and the stop: the untrained model's checkpoint, then one per epoch.
    assert written == list(range(r["epochs"] + 1))
    assert r["metrics"]["val_loss"] == pytest.approx(vals[best - 1]["val_loss"])
    # model.keras is the best epoch's model: its validation loss is the reported one.
    assert not (out / "best.keras").exists()


# Four trainings (~6 s quiet): CI's slow run; explore, units and test_cell train and check GRU
# and SimpleRNN in the default run.
@pytest.mark.slow
def test_other_cells_train_stack_and_predict(runner, tmp_path) -> None:
    for cell in ("gru", "simple_rnn"):
        out = tmp_path / cell
        run_json(
            runner,
            "train",
            HELLO,
            "--out",
            out,
            "--set",
            f"model.cell={cell}",
            "--set",
            "model.num_layers=2",
            "--set",
            "model.dropout=0.1",
            "--set",
            "train.epochs=5",
        )
        a = run_json(runner, "predict", out, "hell", "--engine", "numpy", "--top-k", "4")
        b = run_json(runner, "predict", out, "hell", "--engine", "keras", "--top-k", "4")
        pa = {n["token"]: n["probability"] for n in a["results"][0]["next"]}
        pb = {n["token"]: n["probability"] for n in b["results"][0]["next"]}
        assert pa == pytest.approx(pb, abs=1e-5)
        shown = run_json(runner, "inspect", out, "--layer", "1", "--gates")
        assert shown["cell_state"] is None and shown["layer"] == 1
        # The fast kernel takes LSTM layers only: run.json says these ran the stock layer.
        record = json.loads((out / "run.json").read_text())
        assert record["kernel"] == "stock"
        assert record["kernels"] == {f"{cell}_0": "stock", f"{cell}_1": "stock"}
    lstm = tmp_path / "lstm"
    run_json(runner, "train", HELLO, "--out", lstm, "--set", "train.epochs=1", "--set", "train.kernel=fast")
    record = json.loads((lstm / "run.json").read_text())
    assert record["kernel"] == "fast" and record["kernels"] == {"lstm_0": "fast"}


def _train_in_process(
    out: Path, sets: list[str], at: tuple[int, int] | None = None, config_file: Path = HELLO
) -> bool:
    from killable import train_in_process

    return train_in_process(out, sets, at, config_file)


def test_a_stop_inside_a_call_lands_after_its_last_step_and_resumes_bit_identical(tmp_path) -> None:
    """train.steps_per_call=2 on 3-step epochs: calls of steps 1-2, then 3. A signal heard during
    the first call stops after step 2, the checkpoint records step 2, and the resumed run ends
    with the bits of an unbroken run of one step a call (the steps are the same computation)."""
    sets = ["train.batch_size=1", "train.epochs=4", "train.checkpoint_every=1"]
    one = tmp_path / "one"
    assert _train_in_process(one, [*sets, "train.steps_per_call=1"])
    two = tmp_path / "two"
    assert not _train_in_process(two, [*sets, "train.steps_per_call=2"], at=(1, 1))
    state = json.loads((two / "checkpoint.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 2)
    assert _train_in_process(two, [*sets, "train.steps_per_call=2"])
    assert weights_sha256(two / "model.keras") == weights_sha256(one / "model.keras")
    assert json.loads((two / "metrics.json").read_text()) == json.loads((one / "metrics.json").read_text())
    assert json.loads((two / "run.json").read_text())["choice"]["steps_per_call"] == 2


def test_steps_per_call_under_xla_gives_the_bits_of_one_step_a_call(tmp_path) -> None:
    """Under jit_compile the step is its own XLA cluster inside the many-steps call: same bits."""
    sets = ["train.batch_size=1", "train.epochs=2", "train.jit_compile=true"]
    one, three = tmp_path / "one", tmp_path / "three"
    assert _train_in_process(one, [*sets, "train.steps_per_call=1"])
    assert _train_in_process(three, [*sets, "train.steps_per_call=3"])
    assert weights_sha256(three / "model.keras") == weights_sha256(one / "model.keras")
    assert json.loads((three / "run.json").read_text())["jit_compile"] is True


def test_calls_skip_the_short_batch_of_each_pass(tmp_path) -> None:
    """A pass over the data ends in a short batch, at places that drift through the epochs
    (train.steps_per_epoch does not divide a pass): calls of many steps take full batches only,
    the short one runs alone, and the bits are those of one step a call."""
    from conftest import ROOT
    from lstmcli import config
    from lstmcli.data import load_windows
    from lstmcli.training import loop as training

    jsonl = ROOT / "configs" / "jsonl.yaml"
    sets = ["train.batch_size=4", "train.steps_per_epoch=3", "train.epochs=5", "train.validation_split=0"]
    pipe = training._pipeline(*load_windows(config.load(jsonl, sets)))
    assert pipe.short_every > 3  # a pass is longer than an epoch and ends in a short batch
    one, many = tmp_path / "one", tmp_path / "many"
    assert _train_in_process(one, [*sets, "train.steps_per_call=1"], config_file=jsonl)
    assert _train_in_process(many, [*sets, "train.steps_per_call=8"], config_file=jsonl)
    assert weights_sha256(many / "model.keras") == weights_sha256(one / "model.keras")
