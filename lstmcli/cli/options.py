"""What every command shares: the one error path (`handles_errors`), run-lock release, the global
`--quiet` state and the common options (`--json`, `--quiet`, `--set` …). Both command modules
import it; neither imports the other's internals."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from lstmcli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, LstmcliError

F = TypeVar("F", bound=Callable[..., Any])


MAX_ERROR_LINES = 10
"""A wall of errors hides the first one, usually the cause: at most this many `Error:` lines,
then one line saying how many more (`config validate --all` prints every one)."""


def fail(message: str, code: int, *, limit: int | None = MAX_ERROR_LINES) -> typer.Exit:
    from lstmcli.render import print_errors

    print_errors(message, limit)
    return typer.Exit(code)


def blas_on_one_thread() -> None:
    """Before NumPy is imported: its OpenBLAS then starts no worker threads. By default it starts
    one per core at import, and they spin waiting for work (~60 ms of CPU on 2 cores, taken from
    the core the command runs on when the machine is busy) that `predict` never gives them: one
    sequence at a time is a matrix-vector product, which BLAS runs on one thread anyway (as
    `evaluate` does, `analysis.evaluation.one_blas_thread`). A value the user set is kept; once
    NumPy is loaded (tests, a library caller) this does nothing."""
    import sys

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def handles_errors(fn: F) -> F:
    """The one error path: LstmcliError → `Error: …` on stderr and its exit code; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LstmcliError as e:
            raise fail(e.message, e.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except OSError as e:
            # The file system said no (permission, a full or read-only disk, a path through a
            # file): the user's to fix, not a bug. Writes are atomic, so nothing is half-written.
            if os.environ.get("LSTMCLI_DEBUG"):
                raise
            where = f"{e.filename}: " if e.filename else ""
            raise fail(f"{where}{e.strerror or e}", EXIT_USAGE) from None
        except Exception as e:  # a bug, not bad input: say so without a wall of traceback
            if os.environ.get("LSTMCLI_DEBUG"):
                raise
            raise fail(
                f"internal error: {type(e).__name__}: {e} (set LSTMCLI_DEBUG=1 for the traceback)",
                EXIT_RUNTIME,
            ) from None

    return wrapper  # type: ignore[return-value]


def releases_run_locks(fn: F) -> F:
    """Run locks taken by a command are dropped when it ends (the process's end would too, but
    tests and scripts call commands in one process)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            from lstmcli import runs

            runs.release_all()

    return wrapper  # type: ignore[return-value]


state = {"quiet": False}
"""Set by the app's callback from the global `--quiet` (`lstmcli -q COMMAND`)."""


def quiet_now(quiet: bool) -> bool:
    """`--quiet` given to the command or before it (`lstmcli -q CMD`)."""
    return quiet or state["quiet"]


def shows_progress(quiet: bool, json_out: bool) -> bool:
    """Progress and spinners go to stderr on a terminal only, and not with --quiet or --json."""
    from lstmcli.render import stderr_console

    return stderr_console().is_terminal and not quiet_now(quiet) and not json_out


Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, nothing else.")]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Only results and errors: no progress, no notes on stderr (every command takes it).",
    ),
]
Precision = Annotated[int, typer.Option("--precision", min=0, max=12, help="Digits shown.")]
Engine_ = Annotated[
    str,
    typer.Option(
        "--engine",
        help="auto: NumPy for a run directory (no TensorFlow import), Keras for a config; "
        "or force numpy / keras.",
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY.PATH=VALUE", help="Override a config value (repeatable)."),
]
