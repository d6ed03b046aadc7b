"""A training run that stops itself at an exact moment, for the resume tests: run as
`python tests/killable.py CONFIG OUT [--set KEY=VALUE]... [--at WHEN]`.

WHEN is one of
- `term:E:S` — SIGTERM (a graceful stop) after step S of epoch E (0-based epoch, as listeners count);
- `kill:E:S` — SIGKILL after step S of epoch E;
- `val:N` — SIGKILL during the N-th validation step of the run (1-based);
- `write:N` — SIGKILL just before the N-th file rename into the run directory (1-based), i.e.
  inside a checkpoint's writes.
A run directory that does not exist yet is created first. Exit codes: 0 trained to the end, 130
stopped by the signal (SIGKILL never returns).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


class StopAt:
    """A training listener that signals this process after one exact step."""

    def __init__(self, epoch: int, step: int, sig: int) -> None:
        self.at, self.sig, self.epoch = (epoch, step), sig, -1

    def epoch_begin(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        self.epoch = epoch

    def step(self, done: int, tokens_per_second: float, shown: dict[str, float]) -> None:
        if (self.epoch, done) == self.at:
            os.kill(os.getpid(), self.sig)

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


def train_in_process(out: Path, sets: list[str], at: tuple[int, int] | None, config_file: Path) -> bool:
    """Train (or resume) `out` in this process; False when the SIGTERM sent after step `at`
    (epoch, step) stopped it."""
    from lstmcli import config
    from lstmcli.errors import Interrupted
    from lstmcli.training import loop as training

    prep = training.prepare(config.load(config_file, sets))
    if not out.exists():
        training.create_run_dir(prep, out, force=False)
    try:
        training.train(prep, out, listeners=[StopAt(*at, signal.SIGTERM)] if at else [])
    except Interrupted:
        return False
    return True


def _kill_on_eval(n: int) -> None:
    from lstmcli.training import loop as training

    real_init = training._Steps.__init__
    calls = [0]

    def init(self, *args, **kwargs) -> None:
        real_init(self, *args, **kwargs)
        real_eval = self.eval

        def eval_step(*a):
            calls[0] += 1
            if calls[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_eval(*a)

        self.eval = eval_step

    training._Steps.__init__ = init


def _kill_on_rename(n: int, run_dir: Path) -> None:
    real = os.replace
    calls = [0]
    inside = str(run_dir.resolve())

    def replace(src, dst, *a, **k):
        if str(Path(dst).resolve()).startswith(inside):
            calls[0] += 1
            if calls[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *a, **k)

    os.replace = replace


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("out", type=Path)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--at", default="")
    a = p.parse_args()
    from lstmcli import config
    from lstmcli.errors import Interrupted
    from lstmcli.training import loop as training

    cfg = config.load(Path(a.config), a.set)
    prep = training.prepare(cfg)
    if not a.out.exists():
        training.create_run_dir(prep, a.out, force=False)
    listeners = []
    kind, _, rest = a.at.partition(":")
    if kind in ("term", "kill"):
        e, s = map(int, rest.split(":"))
        listeners.append(StopAt(e, s, signal.SIGTERM if kind == "term" else signal.SIGKILL))
    elif kind == "val":
        _kill_on_eval(int(rest))
    elif kind == "write":
        _kill_on_rename(int(rest), a.out)
    try:
        training.train(prep, a.out, listeners=listeners)
    except Interrupted:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
