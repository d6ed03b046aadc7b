"""The installed `lstmcli` under a real pseudo-terminal, as a person at a terminal runs it.

CliRunner and pipes are never terminals: Rich draws no progress bar for them, so a bar that
crashed at every real terminal passed every such test (issue 17). Here the console script of the
venv the tests run in is spawned by pexpect on a pty of a given size with TERM=xterm-256color,
and what it wrote is replayed through pyte, a VT100 emulator, to get the screen a person sees
(cursor moves, erased progress bars and all), beside the raw bytes and the escape-stripped text.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pyte

LSTMCLI = Path(sys.executable).parent / "lstmcli"
ROWS = 40
ESCAPES = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)


@dataclass
class Term:
    """One finished command at a terminal."""

    code: int | None  # exit status (None when a signal ended it)
    signal: int | None
    raw: bytes  # every byte written to the terminal, escape codes included
    cols: int  # the width it started at
    resizes: list[tuple[int, int]] = field(default_factory=list)  # (offset in raw, new width)

    @property
    def text(self) -> str:
        """Everything written, escape codes stripped (erased progress frames included)."""
        return strip(self.raw)

    @property
    def screen(self) -> str:
        """What the terminal shows at the end, scrolled-off lines included."""
        return render(self.raw, self.cols, resizes=self.resizes)

    @property
    def escapes(self) -> bool:
        return b"\x1b" in self.raw


def strip(raw: bytes) -> str:
    return ESCAPES.sub(b"", raw).decode("utf-8", "replace").replace("\r\n", "\n")


def env_for(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # lstmcli's own default, as a person gets it
    env["TERM"] = "xterm-256color"
    env.update(extra or {})
    return env


class Session:
    """`lstmcli ARGS` running on a pty of `cols` × `rows`: wait for what it shows, type Ctrl-C,
    resize the window, then `finish()` it. Everything it writes is kept."""

    def __init__(
        self,
        args: Sequence[object],
        *,
        cols: int = 80,
        rows: int = ROWS,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout: float = 300,
        program: str | Path = LSTMCLI,
    ) -> None:
        self.cols, self.rows = cols, rows
        self.raw = b""
        self._seen = 0  # where the next expect() looks from
        self.resizes: list[tuple[int, int]] = []
        self.child = pexpect.spawn(
            str(program),
            [str(a) for a in args],
            dimensions=(rows, cols),
            env=env_for(env),
            cwd=str(cwd) if cwd is not None else None,
            timeout=timeout,
        )

    def _read(self, timeout: float) -> bool:
        """Append what the program wrote within `timeout` seconds; False at its end (EOF).

        Reads the pty directly, in order: pexpect's own expect() keeps what follows a match in
        a buffer that its later reads return out of order with read_nonblocking."""
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            return False
        return True

    def expect(self, pattern: str, timeout: float = 300) -> bytes:
        """Wait until what was written since the last expect() matches `pattern` (a regex on
        the UTF-8 bytes: no non-ASCII character inside [...]); returns the match."""
        regex = re.compile(pattern.encode())
        end = time.monotonic() + timeout
        while True:
            found = regex.search(self.raw, self._seen)
            if found:
                self._seen = found.end()
                return found.group(0)
            if time.monotonic() > end or not self._read(min(0.5, max(0.01, end - time.monotonic()))):
                raise AssertionError(f"never saw {pattern!r}:\n{strip(self.raw[-2000:])}")

    def drain(self, seconds: float) -> None:
        """Keep reading for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and self._read(max(0.01, end - time.monotonic())):
            pass

    def screen(self) -> str:
        """What the terminal shows now."""
        return render(self.raw, self.cols, self.rows, resizes=self.resizes, history=False)

    def interrupt(self) -> None:
        """Ctrl-C as a person types it: the pty's interrupt character, SIGINT to the foreground group."""
        self.child.sendintr()

    def resize(self, cols: int) -> None:
        """The window resized: TIOCSWINSZ, and the kernel sends SIGWINCH to the foreground group."""
        self.drain(0.2)  # what was drawn at the old width is read as such
        self.resizes.append((len(self.raw), cols))
        self.child.setwinsize(self.rows, cols)

    def finish(self, timeout: float = 600) -> Term:
        end = time.monotonic() + timeout
        while self._read(1.0):
            if time.monotonic() > end:
                self.child.terminate(force=True)
                raise AssertionError(f"still running after {timeout} s:\n{strip(self.raw[-2000:])}")
        self.child.close()
        return Term(self.child.exitstatus, self.child.signalstatus, self.raw, self.cols, self.resizes)


def run(
    args: Sequence[object],
    *,
    cols: int = 80,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 300,
) -> Term:
    """`lstmcli ARGS` at a terminal `cols` wide, to its end."""
    return Session(args, cols=cols, env=env, cwd=cwd, timeout=timeout).finish()


def shell(line: str, *, cols: int = 80, cwd: str | Path, timeout: float = 300) -> Term:
    """A shell line (a documented example) at a terminal, with this venv's lstmcli first on PATH."""
    env = {"PATH": f"{LSTMCLI.parent}{os.pathsep}{os.environ['PATH']}"}
    return Session(
        ["-o", "pipefail", "-c", line], cols=cols, env=env, cwd=cwd, timeout=timeout, program="bash"
    ).finish()


def render(
    raw: bytes,
    cols: int,
    rows: int = ROWS,
    *,
    resizes: Sequence[tuple[int, int]] = (),
    history: bool = True,
) -> str:
    """The screen after `raw` (resized where the window was), with the lines that scrolled off
    the top before it unless `history` is false."""
    screen = pyte.HistoryScreen(cols, rows, history=100_000)
    stream = pyte.ByteStream(screen)
    at = 0
    for offset, width in resizes:
        stream.feed(raw[at:offset])
        screen.resize(rows, width)
        at = offset
    stream.feed(raw[at:])
    width = screen.columns
    top = ["".join(line[x].data for x in range(width)) for line in screen.history.top] if history else []
    lines = [line.rstrip() for line in [*top, *screen.display]]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)
