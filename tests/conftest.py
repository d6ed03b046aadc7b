"""Shared fixtures and helpers: the CLI runner, the console script, the hello config, one trained
hello run per session, and the weights digest that bit-identity tests compare."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
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


NOISE = re.compile(r"^(WARNING: All log messages|[IWE]\d{4} )|oneDNN|absl::|cuda|cuInit", re.M)
"""TensorFlow start-up lines that lstmcli keeps off stderr."""


def lstmcli(*args: object, env: dict[str, str] | None = None, input: str | None = None):
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"
    full_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    full_env.update(env or {})
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, env=full_env, input=input, timeout=300
    )


def weights_sha256(model_path) -> str:
    digest = hashlib.sha256()
    with zipfile.ZipFile(model_path) as z, z.open("model.weights.h5") as raw:
        with h5py.File(io.BytesIO(raw.read()), "r") as f:
            names: list[str] = []
            f["layers"].visit(lambda n: names.append(n) if isinstance(f["layers"][n], h5py.Dataset) else None)
            for n in sorted(names):
                digest.update(n.encode())
                digest.update(f["layers"][n][()].tobytes())
    return digest.hexdigest()
