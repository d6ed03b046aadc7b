"""train.clipnorm and train.lr_schedule: Keras optimizers and schedules, safe-mode loading, and
a resume that stays bit-identical to an unbroken run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_loop import SignalAt

from conftest import HELLO, invoke, run_json, weights_sha256
from lstmcli import config
from lstmcli.errors import Interrupted
from lstmcli.training import loop as training

SETS = [
    "train.batch_size=1",
    "train.epochs=6",
    "train.validation_split=0.34",
    "train.clipnorm=0.5",
    "train.lr_schedule={name: cosine, warmup_steps: 3}",
]


def _args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


def _rates(run: Path) -> list[float]:
    with (run / "history.csv").open() as f:
        return [float(r["learning_rate"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize("schedule", ["cosine", "exponential", "step", "{name: cosine, warmup_steps: 3}"])
def test_schedules_load_in_safe_mode_and_move_the_rate(runner, tmp_path, schedule) -> None:
    import keras

    out = tmp_path / "run"
    sets = [*SETS[:-1], f"train.lr_schedule={schedule}"]
    run_json(runner, "train", HELLO, "--out", out, *_args(sets))
    model = keras.models.load_model(out / "model.keras", safe_mode=True)
    assert isinstance(model.optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    assert model.optimizer.clipnorm == 0.5
    rates = _rates(out)
    assert len(set(rates)) > 1  # the rate follows the schedule
    if "warmup" in schedule:
        assert rates[0] < rates[1]  # two steps an epoch: still warming up after epoch 1


def test_constant_is_a_plain_rate(runner, tmp_path) -> None:
    out = tmp_path / "run"
    run_json(runner, "train", HELLO, "--out", out, *_args(SETS[:3]))
    assert _rates(out) == pytest.approx([0.05] * 6)


def test_interrupted_scheduled_run_resumes_bit_identical(runner, tmp_path) -> None:
    unbroken = tmp_path / "unbroken"
    run_json(runner, "train", HELLO, "--out", unbroken, *_args(SETS))
    out = tmp_path / "run"
    cfg = config.load(HELLO, SETS)
    prep = training.prepare(cfg)
    training.create_run_dir(prep, out, force=False)
    with pytest.raises(Interrupted):
        training.train(prep, out, progress=SignalAt(2, 1))  # epoch 3, after its first batch
    run_json(runner, "train", "--resume", out)
    assert weights_sha256(out / "model.keras") == weights_sha256(unbroken / "model.keras")
    assert _rates(out) == _rates(unbroken)


def test_bad_schedules_and_rate_changes_exit_2(runner, tmp_path) -> None:
    for bad in (
        "train.lr_schedule=linear",
        "train.lr_schedule={name: step, warmup_steps: 4}",
        "train.lr_schedule={name: cosine, decay_rate: 0.5}",
        "train.clipnorm=0",
    ):
        r = invoke(runner, "train", HELLO, "--out", tmp_path / "x", "--set", bad)
        assert r.exit_code == 2 and r.stderr.startswith("Error:"), (bad, r.output)
        assert not (tmp_path / "x").exists()
    out = tmp_path / "run"
    run_json(runner, "train", HELLO, "--out", out, *_args([*SETS[:2], "train.lr_schedule=cosine"]))
    r = invoke(
        runner, "train", "--resume", out, "--set", "train.epochs=8", "--set", "train.learning_rate=0.1"
    )
    assert r.exit_code == 2 and "lr_schedule" in r.stderr


def test_is_scheduled_tells_a_schedule_from_a_rate() -> None:
    from lstmcli.model import backend, schedules

    k = backend.keras()
    assert not schedules.is_scheduled(k.optimizers.Adam(0.01))
    assert schedules.is_scheduled(k.optimizers.Adam(k.optimizers.schedules.CosineDecay(0.01, 10)))
