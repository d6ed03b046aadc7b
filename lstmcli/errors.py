"""Typed user-facing errors, each carrying the exit code the CLI returns for it."""

from __future__ import annotations

# Documented exit codes (README "Exit codes").
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_REQUIREMENT = 3
EXIT_INTERRUPTED = 130


class LstmcliError(Exception):
    """An error the user can act on; the CLI prints `Error: <message>` and exits with `exit_code`."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(LstmcliError):
    """Bad input: a config, a flag, a text or a file the user gave (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A config file that does not parse or does not fit the schema (exit 2)."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__("\n".join(f"{source}: {e}" for e in errors))


class RunDirError(UsageError):
    """A run directory that is missing, incomplete or holds something lstmcli did not write (exit 2)."""


class RequirementError(LstmcliError):
    """A `--require` quality gate was not met (exit 3)."""

    exit_code = EXIT_REQUIREMENT


class Interrupted(LstmcliError):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint (exit 130). `stopped` is what
    stopped it and when ("stopped by SIGINT at epoch 2"), for callers that say the rest their way."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, stopped: str | None = None) -> None:
        super().__init__(message)
        self.stopped = stopped if stopped is not None else message
