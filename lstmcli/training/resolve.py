"""Which run `train` trains: a new run or `--resume`, checked before the data are read; the metrics
`--require` may name; and where this process writes (a multi-worker run's other workers write a
scratch copy). Plain results, nothing printed: `cli.commands.train` parses, calls these, renders.

The TensorFlow-using modules are imported inside the functions, so a usage error is answered
before TensorFlow loads.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lstmcli import config as config_mod
from lstmcli import runs
from lstmcli.errors import UsageError

if TYPE_CHECKING:
    from lstmcli.config import Config
    from lstmcli.training.loop import Prepared


@dataclass
class RunPlan:
    """A run resolved from the command line, before its data are read."""

    cfg: Config
    run_dir: Path  # the run directory the run reports (the chief's, for every worker)
    source: str  # the config file messages about the config name
    resume: bool
    other_worker: bool  # a multi-worker run's worker other than the chief: writes no run directory


def other_worker(cfg: Config) -> bool:
    """A multi-worker run's workers other than the chief never write the run directory."""
    from lstmcli.training.distribute import is_chief

    return bool(cfg.train.distribute == "multi_worker" and not is_chief())


def resolve_run(
    config: Path | None, out: Path | None, force: bool, resume: Path | None, sets: list[str] | None
) -> RunPlan:
    """`train CONFIG [--out] [--force]` or `train --resume RUN_DIR`, checked (exit 2 on misuse)."""
    if resume is not None:
        if config is not None or out is not None or force:
            raise UsageError(
                "--resume RUN_DIR takes the run's own config: give no CONFIG, --out or --force with it"
            )
        cfg = _resumed(resume, sets or [])
        return RunPlan(cfg, resume, str(resume / runs.CONFIG), resume=True, other_worker=other_worker(cfg))
    if config is None:
        raise UsageError("expected a CONFIG file (or --resume RUN_DIR), got neither")
    cfg = config_mod.load(config, sets)
    run_dir = out if out is not None else runs.default_run_dir(config)
    worker = other_worker(cfg)
    if not worker:
        # Early answers, before the data are read; create_run_dir asks again under the lock.
        runs.check_run_dir_free(run_dir, force)
        runs.check_unlocked(run_dir)
    return RunPlan(cfg, run_dir, str(config), resume=False, other_worker=worker)


def _resumed(run_dir: Path, sets: list[str]) -> Config:
    """The config a resumed run continues with, after claiming the run and checking its model."""
    from lstmcli.training import loop as training

    if not other_worker(runs.open_run(run_dir).config):
        # One owner: a run being trained elsewhere is not resumed (exit 2). The other workers
        # of a multi-worker run only read the chief's run directory.
        runs.claim(run_dir)
    done = int(runs.RunDir(run_dir).read_state().get("epoch", 0))
    asked = [item.split("=", 1)[1] for item in sets if item.split("=", 1)[0].strip() == "train.epochs"]
    if asked and asked[-1].strip().isdigit() and int(asked[-1]) < done:
        # Before resume_config, which records the new epochs in the run's config.yaml.
        raise UsageError(
            f"--set train.epochs={asked[-1].strip()}: expected at least {done}, the epochs "
            f"{run_dir} has already trained; {asked[-1].strip()} is below {done}"
        )
    cfg = training.resume_config(run_dir, sets)
    from lstmcli.model import engine, kerasfile

    model_file = run_dir / runs.MODEL
    engine.check_spec(cfg, kerasfile.load_spec(model_file), model_file)  # the run checks itself
    return cfg


def require_names(cfg: Config, prep: Prepared | None = None) -> list[str]:
    """The final metrics `--require` may name: the task's own (a classifier's per-label names)
    once `prep` is read."""
    names = ["loss", "accuracy"]
    if cfg.train.validation_split > 0:
        names += ["val_loss", "val_accuracy"]
    if cfg.train.test_split > 0:
        from lstmcli.analysis.evaluation import METRICS as test_metrics

        names += list(test_metrics)
    if prep is not None:
        from lstmcli import tasks

        names += tasks.of(cfg).metric_names(prep.cfg)
    return names


def prepare(plan: RunPlan) -> Prepared:
    """The run's data read and checked, with the messages `config validate` gives for its config."""
    from lstmcli.training import loop as training

    with config_mod.in_source(plan.source):
        return training.prepare(plan.cfg)  # data errors surface here, before anything is written


@contextmanager
def written_run_dir(plan: RunPlan, prep: Prepared, force: bool) -> Iterator[Path]:
    """The run directory this process trains in, created for a new run.

    Only the chief writes the run directory. Another worker starts from its own copy of the same
    seeded initial state in a scratch folder (removed after); it saves nothing. A resumed worker
    reads the chief's run directory (a shared file system or a copy).
    """
    from lstmcli.training import loop as training

    if plan.resume:
        yield plan.run_dir
        return
    if not plan.other_worker:
        training.create_run_dir(prep, plan.run_dir, force)
        yield plan.run_dir
        return
    scratch = Path(tempfile.mkdtemp(prefix="lstmcli-worker-"))
    try:
        training.create_run_dir(prep, scratch / "run", force)
        yield scratch / "run"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
