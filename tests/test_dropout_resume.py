"""Resume is bit-identical with dropout: the masks are a pure function of (seed, layer, step), on
one device and under MirroredStrategy, interrupted mid-epoch, in validation and at an epoch's end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from killable import train_in_process

from conftest import HELLO, ROOT, weights_sha256

# hello with one sequence held out (two training steps and one validation step an epoch), two
# layers, dropout after each.
SETS = [
    "train.batch_size=1",
    "train.epochs=6",
    "train.checkpoint_every=1",
    "train.validation_split=0.34",
    "model.num_layers=2",
    "model.dropout=0.1",
]


def _train(out: Path, sets: list[str], at: tuple[int, int] | None = None) -> bool:
    """Train (or resume) `out`; False when the SIGTERM sent at `at` (epoch, step) stopped it."""
    return train_in_process(out, sets, at, HELLO)


def _history(run: Path) -> list[dict[str, str]]:
    import csv

    with (run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        del r["seconds"], r["tokens_per_second"]  # wall-clock figures
    return rows


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unbroken") / "run"
    assert _train(out, SETS)
    return out


@pytest.mark.parametrize(
    "at",
    # epoch 3 after its first batch; epoch 4 after its last (stops in validation). Both are CI's
    # slow run (~22 s quiet each); the default run keeps the epoch-boundary resume below.
    [pytest.param((2, 1), marks=pytest.mark.slow), pytest.param((3, 2), marks=pytest.mark.slow)],
    ids=["mid-epoch", "in-validation"],
)
def test_dropout_resume_is_bit_identical(tmp_path, unbroken, at) -> None:
    out = tmp_path / "run"
    # One step a call, so the stop lands exactly after step `at` whatever auto would pick.
    assert not _train(out, [*SETS, "train.steps_per_call=1"], at)
    assert _train(out, SETS)
    assert weights_sha256(out / "model.keras") == weights_sha256(unbroken / "model.keras")
    assert _history(out) == _history(unbroken)


def test_dropout_resume_at_an_epoch_boundary(tmp_path, unbroken) -> None:
    out = tmp_path / "run"
    assert _train(out, [*SETS, "train.epochs=3"])  # a finished run, extended: the boundary
    assert _train(out, SETS)
    assert weights_sha256(out / "model.keras") == weights_sha256(unbroken / "model.keras")
    assert _history(out) == _history(unbroken)


def test_dropout_draws_new_masks_every_step(tmp_path) -> None:
    """The masks follow the step, not one fixed mask: the same batch twice trains differently."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert _train(a, [*SETS, "train.epochs=2"])
    assert _train(b, [*SETS, "train.epochs=2", "model.dropout=0.0"])
    assert weights_sha256(a / "model.keras") != weights_sha256(b / "model.keras")
    rows = _history(a)
    assert rows[0]["loss"] != rows[1]["loss"]


MIRRORED = """\
vocab: [h, e, l, o]
sequence_length: 5
seed: 0
model: {units: 4, num_layers: 2, dropout: 0.1}
data: {sequences: [hello, eolll, lleel, hello, eolll, lleel, hello, lleel]}
train: {epochs: 4, batch_size: 2, learning_rate: 0.05, checkpoint_every: 1, validation_split: 0.25,
        distribute: mirrored, devices: ["CPU:0", "CPU:1"]}
"""


def _killable(*args: object) -> int:
    """tests/killable.py in a subprocess (each TensorFlow device setup needs its own process)."""
    cmd = [sys.executable, str(ROOT / "tests" / "killable.py"), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


@pytest.mark.slow
def test_dropout_resume_under_mirrored_is_bit_identical(tmp_path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text(MIRRORED)
    assert _killable(cfg, tmp_path / "unbroken") == 0
    # Three training steps an epoch: mid-epoch, in validation, and at an epoch boundary.
    for name, at in (("mid", "term:1:1"), ("val", "term:2:3")):
        out = tmp_path / name
        assert _killable(cfg, out, "--at", at) == 130
        assert _killable(cfg, out) == 0
        assert weights_sha256(out / "model.keras") == weights_sha256(tmp_path / "unbroken" / "model.keras")
        assert _history(out) == _history(tmp_path / "unbroken")
    out = tmp_path / "boundary"
    assert _killable(cfg, out, "--set", "train.epochs=2") == 0
    assert _killable(cfg, out) == 0
    assert weights_sha256(out / "model.keras") == weights_sha256(tmp_path / "unbroken" / "model.keras")
    assert _history(out) == _history(tmp_path / "unbroken")
