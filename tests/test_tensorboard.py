"""train.tensorboard: one event per completed epoch, also across an interrupt and a resume,
read back with TensorBoard's EventAccumulator and compared with history.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import tensorboard  # noqa: E402, F401  # the extra: CI installs it, so a missing one fails here
from test_loop import SignalAt

from conftest import HELLO, invoke, run_json
from lstmcli import config
from lstmcli.errors import Interrupted
from lstmcli.training import loop as training

SETS = [
    "train.batch_size=1",
    "train.epochs=6",
    "train.checkpoint_every=1",
    "train.validation_split=0.34",
    "train.tensorboard=true",
]


def _scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _history(run: Path) -> list[dict[str, str]]:
    with (run / "history.csv").open() as f:
        return list(csv.DictReader(f))


def test_interrupted_and_resumed_run_has_one_event_per_epoch(runner, tmp_path) -> None:
    out = tmp_path / "run"
    prep = training.prepare(config.load(HELLO, SETS))
    training.create_run_dir(prep, out, force=False)
    with pytest.raises(Interrupted):
        training.train(prep, out, progress=SignalAt(2, 1))  # in the middle of epoch 3
    assert [s for s, _ in _scalars(out)["loss"]] == [1, 2]
    run_json(runner, "train", "--resume", out)
    scalars = _scalars(out)
    rows = _history(out)
    for tag in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "tokens_per_second"):
        assert [s for s, _ in scalars[tag]] == [1, 2, 3, 4, 5, 6], tag
        assert [v for _, v in scalars[tag]] == pytest.approx([float(r[tag]) for r in rows], rel=1e-6), tag


def test_events_of_repeated_epochs_are_dropped_on_resume(tmp_path) -> None:
    from lstmcli.training import tensorboard_log

    w = tensorboard_log.Writer(tmp_path, 0)
    for e in range(1, 6):
        w.epoch_end(e - 1, {"epoch": e, "loss": float(e)})
    w.close()
    tensorboard_log.Writer(tmp_path, 3).close()  # a run resumed from its epoch-3 checkpoint
    assert _scalars(tmp_path)["loss"] == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_missing_tensorboard_exits_2_before_writing(runner, tmp_path, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n.startswith("tensorboard") else real(n, *a)
    )
    r = invoke(runner, "train", HELLO, "--out", tmp_path / "run", "--set", "train.tensorboard=true")
    assert r.exit_code == 2 and "pip install 'lstmcli[tensorboard]'" in r.stderr
    assert r.stderr.count("Error:") == 1 and not (tmp_path / "run").exists()
