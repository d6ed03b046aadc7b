"""lstmcli sweep: grids, sweep.json, resuming an interrupted sweep, Optuna search with pruning,
runs/compare on a sweep folder, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_loop import SignalAt

from conftest import HELLO, invoke, run_json, weights_sha256
from lstmcli.errors import Interrupted
from lstmcli.experiments import sweep as sweep_mod

FIXED = ["train.epochs=4", "train.batch_size=1", "train.validation_split=0.34"]
GRID = ["model.units=2,3", "train.learning_rate=0.05,0.1"]


def _args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("sweep") / "grid"
    run_json(CliRunner(), "sweep", HELLO, "--out", out, *_args(GRID + FIXED))
    return out


def test_grid_makes_one_run_directory_per_point(runner, grid) -> None:
    data = json.loads((grid / "sweep.json").read_text())
    names = [p["name"] for p in data["points"]]
    assert names == [
        "units=2,learning_rate=0.05",
        "units=2,learning_rate=0.1",
        "units=3,learning_rate=0.05",
        "units=3,learning_rate=0.1",
    ]
    assert all(p["status"] == "finished" and p["epochs"] == 4 for p in data["points"])
    assert data["objective"] == {"metric": "val_loss", "mode": "min"}
    best = min(data["points"], key=lambda p: p["metrics"]["val_loss"])
    assert data["best"]["name"] == best["name"]
    for p in data["points"]:
        saved = json.loads((grid / p["name"] / "metrics.json").read_text())
        assert saved == p["metrics"]
    # runs and compare work on the sweep folder
    listed = run_json(runner, "runs", grid)
    assert sorted(r["name"] for r in listed["runs"]) == sorted(names)
    cmp = run_json(runner, "compare", grid / names[0], grid / names[3])
    assert {c["key"] for c in cmp["config"] if c["differs"]} == {"model.units", "train.learning_rate"}


@pytest.mark.slow  # two sweeps of hello (~20 s quiet): CI's slow run; the grid above stays in the default run
def test_an_interrupted_sweep_resumes(runner, grid, tmp_path) -> None:
    out = tmp_path / "sw"
    plan = sweep_mod.plan(HELLO, GRID + FIXED, out, None, [])
    calls: list[str] = []

    def progress_for(point):  # SIGTERM inside the second point, epoch 2, after its first batch
        calls.append(point.name)
        return SignalAt(1, 1) if len(calls) == 2 else None

    with pytest.raises(Interrupted):
        sweep_mod.run(plan, progress_for)
    data = json.loads((out / "sweep.json").read_text())
    assert [p["status"] for p in data["points"]] == ["finished", "interrupted", "pending", "pending"]
    first = out / data["points"][0]["name"] / "model.keras"
    stamp = first.stat().st_mtime_ns
    r = run_json(runner, "sweep", "--resume", out)
    assert [p["status"] for p in r["points"]] == ["finished"] * 4
    assert first.stat().st_mtime_ns == stamp  # a finished point is not trained again
    for p in r["points"]:  # the half-trained point resumed bit-identical to an unbroken sweep
        assert weights_sha256(out / p["name"] / "model.keras") == weights_sha256(
            grid / p["name"] / "model.keras"
        )
    assert r["best"]["name"] == json.loads((grid / "sweep.json").read_text())["best"]["name"]


SPACE = "model.units: {choices: [2, 3, 4]}\ntrain.learning_rate: {low: 0.01, high: 0.2, log: true}\n"


# Two 3-trial Optuna searches (~22 s quiet): CI's slow run (the default run stays under 5 minutes).
@pytest.mark.slow
def test_search_is_seeded_and_marks_pruned_trials(runner, tmp_path, monkeypatch) -> None:
    import optuna  # the sweep extra: CI installs it, so a missing one fails here

    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    a = run_json(
        runner, "sweep", HELLO, "--search", space, "--trials", "3", "--out", tmp_path / "a", *_args(FIXED)
    )
    b = run_json(
        runner, "sweep", HELLO, "--search", space, "--trials", "3", "--out", tmp_path / "b", *_args(FIXED)
    )
    assert [p["values"] for p in a["points"]] == [p["values"] for p in b["points"]]
    assert len({json.dumps(p["values"]) for p in a["points"]}) == 3
    assert a["points"][0]["name"].startswith("000-units=")
    for p in a["points"]:
        assert 0.01 <= p["values"]["train.learning_rate"] <= 0.2 and p["values"]["model.units"] in (2, 3, 4)

    # a pruner that stops every trial at its first epoch: each is marked pruned in sweep.json
    monkeypatch.setattr(sweep_mod, "make_pruner", lambda _module: optuna.pruners.ThresholdPruner(upper=-1.0))
    c = run_json(
        runner, "sweep", HELLO, "--search", space, "--trials", "2", "--out", tmp_path / "c", *_args(FIXED)
    )
    assert [(p["status"], p["epochs"]) for p in c["points"]] == [("pruned", 1), ("pruned", 1)]
    assert c["best"] is None


def test_bad_input_exits_2_and_writes_nothing(runner, tmp_path, hello_run) -> None:
    bad_space = tmp_path / "space.yaml"
    bad_space.write_text("train.learning_rate: {low: 0.1, high: 0.01}\n")
    out = tmp_path / "out"
    cases = [
        ("sweep", HELLO, "--set", "model.unitz=2,3"),
        ("sweep", HELLO),  # an empty grid
        ("sweep", HELLO, "--set", "model.units=2,"),
        ("sweep", HELLO, "--set", "model.units=2,5000"),
        ("sweep", HELLO, "--search", bad_space, "--trials", "2"),
        ("sweep", HELLO, "--set", "model.units=2,3", "--objective", "val_loss:min"),  # no validation
        ("sweep", "--resume", hello_run),  # a run directory, not a sweep folder
    ]
    for args in cases:
        r = invoke(runner, *args, "--out", out) if "--resume" not in args else invoke(runner, *args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.count("Error:") == 1 and r.stderr.startswith("Error:"), (args, r.stderr)
        assert not out.exists()
