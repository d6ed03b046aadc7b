"""What a person sees of `lstmcli sweep` at a terminal: run under a real pseudo-terminal (the
suite's harness, tests/terminal.py) at 80 columns — which trial of how many, its settings, the best so far —
and none of it when stderr is a pipe."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import terminal
from conftest import HELLO


def _under_pty(args: list[str], columns: int = 80) -> tuple[int | None, str]:
    """The console script at a terminal `columns` wide (the suite's pty harness, tests/terminal.py)."""
    t = terminal.run(args, cols=columns, timeout=600)
    return t.code, t.raw.decode("utf-8", "replace")


def _plain(text: str) -> str:
    return terminal.strip(text.encode("utf-8"))


FIXED = ["--set", "model.units=2,3", "--set", "train.epochs=20", "--set", "train.checkpoint_every=10"]


# A sweep at a pty (~9 s quiet), like the other pty sweeps: CI's slow run.
@pytest.mark.slow
def test_sweep_at_a_terminal_says_which_trial_its_settings_and_the_best(tmp_path) -> None:
    code, raw = _under_pty(["sweep", str(HELLO), *FIXED, "--out", str(tmp_path / "g")])
    text = _plain(raw)
    assert code == 0, text
    assert "internal error" not in text and "Traceback" not in text
    assert "trial 1/2 · units=2 · best so far: none finished yet" in text
    assert re.search(r"trial 2/2 · units=3 · best so far: trial 1, loss \d\.\d{4}", text), text
    assert "\x1b[" in raw  # a terminal gets the progress bar's escape codes


@pytest.mark.slow
def test_sweep_with_workers_at_a_terminal_shows_running_trials(tmp_path) -> None:
    code, raw = _under_pty(
        [
            "sweep",
            str(HELLO),
            *FIXED,
            "--workers",
            "2",
            "--out",
            str(tmp_path / "g"),
        ]
    )
    text = _plain(raw)
    assert code == 0, text
    assert "internal error" not in text and "Traceback" not in text
    assert re.search(r"trial [12]/2 model\.units|trial [12]/2 units=", text), text  # a running trial's bar
    assert "epochs" in text and "best so far" in text
    assert re.search(r"trial [12]/2 finished: units=[23]", text), text
    # every line the terminal drew (redraws start at \r or after a cursor move) fits the 80 columns
    drawn = re.split(r"\r|\n|\x1b\[[0-9;?]*[A-Za-z]", raw)
    assert max(len(line) for line in drawn) <= 80


@pytest.mark.slow  # a whole sweep in a process of its own, like the pty sweeps above: CI's slow run
def test_sweep_progress_stays_off_a_pipe(tmp_path) -> None:
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"
    r = subprocess.run(
        [exe, "sweep", str(HELLO), *FIXED, "--out", str(tmp_path / "g")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "trial 1/2" not in r.stderr and "\x1b[" not in r.stderr + r.stdout
