"""`training.resolve`: the run `train` trains, resolved from the command line as a plain result."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmcli.errors import UsageError
from lstmcli.training import resolve

HELLO = Path(__file__).parent.parent / "configs" / "hello.yaml"


def test_a_new_run_is_resolved_without_touching_the_disk(tmp_path) -> None:
    plan = resolve.resolve_run(HELLO, tmp_path / "run", False, None, ["train.epochs=2"])
    assert (plan.run_dir, plan.source, plan.resume, plan.other_worker) == (
        tmp_path / "run",
        str(HELLO),
        False,
        False,
    )
    assert plan.cfg.train.epochs == 2
    assert not (tmp_path / "run").exists()


def test_resume_takes_no_config_out_or_force(tmp_path) -> None:
    with pytest.raises(UsageError, match="--resume RUN_DIR takes the run's own config"):
        resolve.resolve_run(HELLO, None, False, tmp_path, None)
    with pytest.raises(UsageError, match="expected a CONFIG file"):
        resolve.resolve_run(None, None, False, None, None)


def test_require_names_follow_the_splits() -> None:
    plan = resolve.resolve_run(HELLO, None, False, None, None)
    assert resolve.require_names(plan.cfg) == ["loss", "accuracy"]
    split = resolve.resolve_run(
        HELLO, None, False, None, ["train.validation_split=0.3", "train.test_split=0.3"]
    )
    assert resolve.require_names(split.cfg) == [
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "test_loss",
        "test_accuracy",
        "test_perplexity",
        "test_bits_per_token",
    ]
