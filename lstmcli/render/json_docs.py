"""The shapes of the JSON documents `--json` prints: the public contract users script against.

Each document is a TypedDict, so mypy checks the code that builds it and
`tests/test_json_docs.py` validates each command's real output against it (pydantic's
TypeAdapter; unknown keys are refused). A key added to a document is added here first; no key is
renamed or dropped (README: JSON keys are a contract).

Documents covered so far: train, predict (next-token), runs, compare, config validate. Still to
add: inspect, evaluate, sweep, export, config show, and predict of a classifier.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from Python 3.12

# Unknown keys are refused when a document is validated: a key added in code but not here fails
# tests/test_json_docs.py, so this file stays the complete list.
_EXACT = ConfigDict(extra="forbid")


@with_config(_EXACT)
class TrainDoc(TypedDict):
    """`lstmcli train --json`."""

    run_dir: str
    metrics: dict[str, float]  # the final epoch's metrics: loss, accuracy, val_* …
    epochs: int
    wall_seconds: float
    requirements: list[dict[str, Any]]  # one entry per `--require`, in order


@with_config(_EXACT)
class NextToken(TypedDict):
    token: str
    probability: float


@with_config(_EXACT)
class PredictResult(TypedDict):
    input: str
    tokens: list[str]
    next: list[NextToken]
    generated: str
    generated_tokens: list[str]


@with_config(_EXACT)
class PredictDoc(TypedDict):
    """`lstmcli predict RUN TEXT… --json` on a next-token run."""

    run_dir: str
    engine: str
    temperature: float
    seed: int | None
    steps: int
    results: list[PredictResult]


@with_config(_EXACT)
class RunRow(TypedDict):
    name: str
    path: str
    started: str | None
    config: dict[str, Any]  # the key config values, by dotted key
    metrics: dict[str, float]
    running: bool
    pid: int | None


@with_config(_EXACT)
class RunsDoc(TypedDict):
    """`lstmcli runs DIR --json`."""

    runs: list[RunRow]


@with_config(_EXACT)
class ConfigRow(TypedDict):
    key: str
    a: Any
    b: Any
    differs: bool


@with_config(_EXACT)
class MetricRow(TypedDict):
    name: str
    a: float | None
    b: float | None
    delta: float | None


@with_config(_EXACT)
class CompareDoc(TypedDict):
    """`lstmcli compare A B --json`."""

    a: str
    b: str
    config: list[ConfigRow]
    metrics: list[MetricRow]


@with_config(_EXACT)
class ValidatedConfig(TypedDict):
    config: str
    valid: bool
    errors: list[str]


@with_config(_EXACT)
class ValidateDoc(TypedDict):
    """`lstmcli config validate CONFIG… --json`."""

    valid: bool
    configs: list[ValidatedConfig]


DOCUMENTS: dict[str, type] = {
    "train": TrainDoc,
    "predict": PredictDoc,
    "runs": RunsDoc,
    "compare": CompareDoc,
    "config validate": ValidateDoc,
}
"""Command → the shape of what its `--json` prints."""
