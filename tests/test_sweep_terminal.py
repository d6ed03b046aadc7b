"""What a person sees of `lstmcli sweep` at a terminal: run under a real pseudo-terminal (the
standard library's `pty`) at 80 columns — which trial of how many, its settings, the best so far —
and none of it when stderr is a pipe."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from conftest import HELLO

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _under_pty(args: list[str], columns: int = 80) -> tuple[int, str]:
    """Run the console script with stdin, stdout and stderr on a pty of `columns` columns."""
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "NO_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS=str(columns))
    proc = subprocess.Popen([exe, *args], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=600), b"".join(chunks).decode("utf-8", "replace")


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


FIXED = ["--set", "model.units=2,3", "--set", "train.epochs=20", "--set", "train.checkpoint_every=10"]


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
