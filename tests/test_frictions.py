"""Small frictions a newcomer met (issue 17), each held by a test."""

from __future__ import annotations

import csv

import numpy as np
import yaml

from conftest import HELLO, ROOT, invoke, run_json


def test_config_init_and_reference_take_json(runner, tmp_path) -> None:
    doc = run_json(runner, "config", "reference")
    keys = {row["key"]: row for row in doc["keys"]}
    assert keys["model.units"]["required"] is False and isinstance(keys["model.units"]["default"], int)
    assert keys["vocab"]["required"] is True
    target = tmp_path / "my.yaml"
    doc = run_json(runner, "config", "init", target)
    assert doc == {"path": str(target), "config": target.read_text(encoding="utf-8")}
    assert run_json(runner, "config", "init", "-")["path"] is None


def test_inspect_of_a_missing_target_names_both_things_it_takes(runner, tmp_path) -> None:
    done = invoke(runner, "inspect", tmp_path / "nope")
    assert done.exit_code == 2
    assert done.stderr.strip() == (
        f"Error: {tmp_path / 'nope'}: expected a trained run directory or a YAML config file, "
        "got no such file or directory"
    )


def test_search_without_trials_asks_for_them(runner, tmp_path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("train.learning_rate: {low: 0.001, high: 0.1, log: true}\n")
    done = invoke(runner, "sweep", HELLO, "--search", space, "--out", tmp_path / "sw")
    assert done.exit_code == 2
    assert f"--search {space}: expected --trials N" in done.stderr and "got no --trials" in done.stderr
    assert not (tmp_path / "sw").exists()


def test_resume_below_the_epochs_done_says_so(runner, hello_run) -> None:
    before = (hello_run / "config.yaml").read_text()
    done = invoke(runner, "train", "--resume", hello_run, "--set", "train.epochs=50")
    assert done.exit_code == 2
    assert done.stderr.strip() == (
        f"Error: --set train.epochs=50: expected at least 300, the epochs {hello_run} has already "
        "trained; 50 is below 300"
    )
    assert (hello_run / "config.yaml").read_text() == before  # nothing recorded


def test_history_learning_rate_is_the_shortest_float32_decimal(runner, tmp_path) -> None:
    out = tmp_path / "run"
    run_json(
        runner, "train", HELLO, "--out", out, "--set", "train.epochs=2", "--set", "train.learning_rate=0.01"
    )
    rows = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    assert [r["learning_rate"] for r in rows] == ["0.01", "0.01"]
    assert np.float32(float(rows[0]["learning_rate"])) == np.float32(0.01)


def test_history_has_its_header_from_the_start(tmp_path) -> None:
    from lstmcli import config, runs
    from lstmcli.training import loop as training

    for split, val in ((0.0, []), (0.1, ["val_accuracy", "val_loss"])):
        cfg = config.load(ROOT / "configs" / "text.yaml", [f"train.validation_split={split}"])
        out = tmp_path / f"run{split}"
        training.create_run_dir(training.prepare(cfg), out, force=False)
        runs.release_all()
        header = (out / "history.csv").read_text().splitlines()
        assert header == [
            ",".join(["epoch", "accuracy", "loss", *val, "seconds", "tokens_per_second", "learning_rate"])
        ]
        assert runs.read_history(out) == []


def test_history_header_is_the_one_training_writes(runner, tmp_path) -> None:
    out = tmp_path / "run"
    run_json(
        runner,
        "train",
        ROOT / "configs" / "text.yaml",
        "--out",
        out,
        "--set",
        "train.epochs=1",
        "--set",
        "train.steps_per_epoch=2",
        "--set",
        "train.validation_steps=1",
    )
    from lstmcli import runs

    header = (out / "history.csv").read_text().splitlines()[0]
    assert header == ",".join(runs.history_fields(validation=True))


def test_starter_config_points_to_the_editor_support_section(runner) -> None:
    text = invoke(runner, "config", "init", "-").stdout
    assert "docs/cli.md" in text and "README" not in text
    assert "### Editor support" in (ROOT / "docs" / "cli.md").read_text()
    assert yaml.safe_load(text)["vocab"] == ["h", "e", "l", "o"]
