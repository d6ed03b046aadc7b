"""Shared fixtures: the CLI runner, the hello config, and one trained hello run per session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typer.testing import CliRunner  # noqa: E402

from lstmcli.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "configs" / "hello.yaml"


@pytest.fixture(scope="session")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def run_json(runner: CliRunner, *args: str, input: str | None = None) -> dict:
    result = invoke(runner, *args, "--json", input=input)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def hello_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hello.yaml trained once for the whole session."""
    out = tmp_path_factory.mktemp("runs") / "hello"
    result = CliRunner().invoke(app, ["train", str(HELLO), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out
