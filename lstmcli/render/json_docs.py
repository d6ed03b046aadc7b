"""The shapes of the JSON documents `--json` prints: the public contract users script against.

Each document is a TypedDict (its builder in `render.json_out` returns it, so mypy checks it), and
`tests/test_json_docs.py` validates each command's real output against it (pydantic's
TypeAdapter; unknown keys are refused, and every command with `--json` must have a shape here).
A key added to a document is added here first; no key is renamed or dropped (README: JSON keys
are a contract).

Every command that prints JSON has its document here (`DOCUMENTS` maps each to its shape): train,
inspect (with --gates, --verify), predict (next-token and classifier), explore, units, runs, compare,
evaluate, sweep (and `sweep --report`), export, config show / validate / reference / init / schema.
docs/cli.md describes what the keys mean; this file is the complete list of them.

Where each document is built: `lstmcli/render/json_out.py`, one builder per document
(`train_json`, `inspect_json`, `predict_json`, `label_json`, `explore_json`, `units_json`,
`runs_json`, `compare_json`, `evaluate_json`, `sweep_json`, `sweep_report_json`, `export_json`,
`config_show_json`, `validate_json`, `reference_json`, `init_json`, `schema_json`), each returning
its shape from this file, so mypy checks what it builds. Core modules return results
(dataclasses, dicts of numbers), never documents.
"""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from Python 3.12

# Unknown keys are refused when a document is validated: a key added in code but not here fails
# tests/test_json_docs.py, so this file stays the complete list.
_EXACT = ConfigDict(extra="forbid")


@with_config(_EXACT)
class Requirement(TypedDict):
    """One `--require` (train, evaluate): its text, the metric it names, that metric's value
    (evaluate: null when the metric is not measured) and whether it holds."""

    requirement: str
    metric: str
    value: float | None
    met: bool


@with_config(_EXACT)
class LabelScores(TypedDict):
    """A classifier's precision, recall and F1 of one label, and its support (true examples)."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@with_config(_EXACT)
class Confusion(TypedDict):
    """Rows: the true label, columns: the predicted one, both in `labels` order."""

    labels: list[str]
    matrix: list[list[int]]


@with_config(_EXACT)
class Classification(TypedDict):
    """`train --json`'s `classification` on a classifier: the held-out (or training) split's report."""

    split: str  # validation | train
    examples: int
    accuracy: float
    macro_f1: float
    per_label: list[LabelScores]
    confusion: Confusion


@with_config(_EXACT)
class TrainDoc(TypedDict):
    """`lstmcli train --json`."""

    run_dir: str
    metrics: dict[str, float]  # the final epoch's metrics: loss, accuracy, val_* …
    epochs: int
    wall_seconds: float
    requirements: list[Requirement]  # one entry per `--require`, in order
    classification: NotRequired[Classification]  # task: classify only


@with_config(_EXACT)
class InspectShapes(TypedDict):
    """The shape of each array; null on an axis whose length differs between sequences, and
    `cell_state` null for cells without one."""

    x: list[int | None]
    outputs: list[int | None]
    hidden_state: list[int | None]
    cell_state: list[int | None] | None


@with_config(_EXACT)
class GateStep(TypedDict):
    """One timestep of `inspect --gates`: the token, then each gate and state, one value per
    unit. LSTM: i f g o c h; GRU: z r g h (c null); simple RNN: h (c null)."""

    token: str
    i: NotRequired[list[float]]
    f: NotRequired[list[float]]
    o: NotRequired[list[float]]
    z: NotRequired[list[float]]
    r: NotRequired[list[float]]
    g: NotRequired[list[float]]
    c: list[float] | None
    h: list[float]


@with_config(_EXACT)
class InspectVerify(TypedDict):
    """`inspect --verify`: the NumPy trace against Keras's own layer."""

    max_abs_diff: float
    max_scaled_diff: float  # the largest |a - b| / (1e-5 + 1e-5 |b|); ok when <= 1
    tolerance: float
    ok: bool
    compared: str


@with_config(_EXACT)
class InspectDoc(TypedDict):
    """`lstmcli inspect TARGET --json`: the one-hot inputs, outputs and final states of one layer
    (`x` is (sequence, time, vocab); a ragged batch holds lists of different lengths)."""

    target: str
    source: str  # "run directory" or "config seed N"
    engine: str  # numpy | keras
    cell: str
    layer: int
    num_layers: int
    return_sequences: bool
    vocab: list[str]
    inputs: list[list[str]]
    x: list[Any]
    outputs: list[Any]
    hidden_state: list[Any]
    cell_state: list[Any] | None
    shapes: InspectShapes
    steps: NotRequired[list[list[GateStep]]]  # with --gates: per sequence, per timestep
    verify: NotRequired[InspectVerify]  # with --verify


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
class LabelProbability(TypedDict):
    label: str
    probability: float


@with_config(_EXACT)
class LabelResult(TypedDict):
    """One input text: its tokens, the most likely label and every label, most likely first."""

    input: str
    tokens: list[str]
    label: str
    labels: list[LabelProbability]


@with_config(_EXACT)
class LabelDoc(TypedDict):
    """`lstmcli predict RUN TEXT… --json` on a classifier (`task: classify`)."""

    run_dir: str
    engine: str
    results: list[LabelResult]


@with_config(_EXACT)
class Quantisation(TypedDict):
    """How the page stores its values (8 bits per unit) and the largest error that costs, per array."""

    bits: int
    per: str
    max_abs_error: dict[str, float]


@with_config(_EXACT)
class ExploreDoc(TypedDict):
    """`lstmcli explore RUN --out PAGE.html --json`: the page written and what it holds."""

    page: str
    bytes: int
    run: str
    source: str  # "--input" or the --text file
    task: str
    cell: str
    layer: int
    num_layers: int
    units: int
    tokens: int
    arrays: list[str]  # the states and gates the page colours by: h, c, i, f, g, o …
    quantisation: Quantisation


@with_config(_EXACT)
class UnitsFeature(TypedDict):
    """The feature scored: `kind` match | depth | column | label; `type` "yes/no" or "numeric"."""

    kind: str
    regex: str | None
    open: str | None
    close: str | None
    type: str
    description: str
    labels: NotRequired[list[str]]  # --label: the run's labels, the first being 0


@with_config(_EXACT)
class StepSlice(TypedDict):
    start: int | None
    stop: int | None


@with_config(_EXACT)
class UnitScore(TypedDict):
    """One (unit, state) pair, ranked by |r| or |AUC - 0.5|."""

    rank: int
    unit: int
    state: str  # named as inspect --gates names it
    score: float
    metric: str


@with_config(_EXACT)
class UnitsDoc(TypedDict):
    """`lstmcli units RUN --text FILE <feature> --json`: the top units for one feature."""

    run_dir: str
    text: str
    cell: str
    layer: int
    feature: UnitsFeature
    metric: str  # correlation | auc
    steps: StepSlice
    sequences: int
    tokens: int  # the steps scored
    positives: int | None  # tokens inside a match; null for a numeric feature
    units: list[UnitScore]


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


@with_config(_EXACT)
class EvaluateDoc(TypedDict):
    """`lstmcli evaluate RUN --json`: metrics on held-out data (its test split, or --data FILE)."""

    run_dir: str
    data: str  # the --data file, or the run's test split
    windows: int
    tokens: int
    eval_stride: int
    seconds: float
    metrics: dict[str, float]  # test_loss, test_accuracy, test_perplexity, test_bits_per_token
    requirements: list[Requirement]


@with_config(_EXACT)
class Objective(TypedDict):
    metric: str
    mode: str  # min | max


@with_config(_EXACT)
class SweepPoint(TypedDict):
    """One point of a sweep: its values, `status` (pending, finished, pruned, failed,
    interrupted, running), final metrics and epochs; with a study, its trial, host, run
    directory and trials (`attempts`)."""

    name: str
    values: dict[str, Any]
    status: str
    metrics: dict[str, float]
    epochs: int
    trial: int | None
    error: str | None
    host: str | None
    run_dir: str | None
    attempts: list[int]


@with_config(_EXACT)
class SweepDoc(TypedDict):
    """`lstmcli sweep … --json`: sweep.json without its `base` config."""

    kind: str  # grid | search
    dir: str
    config: str
    objective: Objective
    keys: list[str]
    space: dict[str, Any] | None  # --search: the space file's contents
    trials: int
    seed: int
    requires: list[str]
    points: list[SweepPoint]
    best: SweepPoint | None
    storage: str | None  # the study's database URL, password removed
    study: str | None
    workers: int


@with_config(_EXACT)
class SweepReportDoc(TypedDict):
    """`lstmcli sweep --storage URL --report --json`: a study's points, read from any host;
    `counts` is the number of trials in each Optuna state (running, complete, waiting …)."""

    kind: str
    dir: str  # the storage URL, password removed
    storage: str
    study: str
    config: str
    objective: Objective
    keys: list[str]
    space: dict[str, Any] | None
    trials: int
    seed: int
    requires: list[str]
    counts: dict[str, int]
    points: list[SweepPoint]
    best: SweepPoint | None


@with_config(_EXACT)
class ExportVerify(TypedDict):
    """`export --verify`: the artifact in its own runtime against the NumPy engine."""

    runtime: str
    sequences: int
    lengths: list[int]
    max_abs_diff: float
    tolerance: float
    ok: bool


@with_config(_EXACT)
class ExportDoc(TypedDict):
    """`lstmcli export RUN --format F --out PATH --json`."""

    run_dir: str
    format: str
    out: str
    bytes: int
    variable_length: bool  # the artifact takes any sequence length
    verify: ExportVerify | None


@with_config(_EXACT)
class ConfigShowDoc(TypedDict):
    """`lstmcli config show CONFIG --json`: the resolved config, every default filled in. The
    sections hold exactly the keys docs/config.md lists (`config reference`)."""

    task: str
    vocab: list[str] | str
    vocab_options: dict[str, Any]
    labels: list[str] | str | None
    sequence_length: int
    seed: int
    model: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any]


@with_config(_EXACT)
class ReferenceRow(TypedDict):
    key: str  # dotted: model.units
    required: bool
    default: Any
    description: str


@with_config(_EXACT)
class ReferenceDoc(TypedDict):
    """`lstmcli config reference --json`: every config key, in docs/config.md's order."""

    keys: list[ReferenceRow]


@with_config(_EXACT)
class InitDoc(TypedDict):
    """`lstmcli config init PATH --json`: the file written (null for '-') and its text."""

    path: str | None
    config: str


# `lstmcli config schema` (always JSON): the config's JSON Schema, for editors. `$defs` and
# `$schema` are not Python names: the functional form of TypedDict.
SchemaDoc = TypedDict(
    "SchemaDoc",
    {
        "$schema": str,
        "$defs": dict[str, Any],
        "title": str,
        "description": str,
        "type": str,
        "properties": dict[str, Any],
        "required": list[str],
        "additionalProperties": bool,
    },
)
with_config(_EXACT)(SchemaDoc)  # what the decorator does to the classes above


DOCUMENTS: dict[str, type] = {
    "train": TrainDoc,
    "inspect": InspectDoc,
    "predict": PredictDoc,
    "predict (classify)": LabelDoc,
    "explore": ExploreDoc,
    "units": UnitsDoc,
    "runs": RunsDoc,
    "compare": CompareDoc,
    "evaluate": EvaluateDoc,
    "sweep": SweepDoc,
    "sweep --report": SweepReportDoc,
    "export": ExportDoc,
    "config show": ConfigShowDoc,
    "config validate": ValidateDoc,
    "config reference": ReferenceDoc,
    "config init": InitDoc,
    "config schema": SchemaDoc,
}
"""Command → the shape of what its `--json` prints."""
