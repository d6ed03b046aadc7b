"""Fuzzing: Hypothesis-made YAML documents and `--set` values through `config validate`,
`inspect` and `train` never give exit 1 or a traceback — every bad input is exit 2."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import invoke

HELLO = {
    "vocab": ["h", "e", "l", "o"],
    "sequence_length": 5,
    "model": {"units": 2},
    "data": {"sequences": ["hello", "eolll", "lleel"]},
    "train": {"epochs": 1, "batch_size": 3},
}
KEYS = [
    "vocab",
    "vocab_options.max_size",
    "vocab_options.min_count",
    "sequence_length",
    "seed",
    "model.cell",
    "model.units",
    "model.num_layers",
    "model.dropout",
    "model.return_sequences",
    "data.sequences",
    "data.text_file",
    "data.sequences_file",
    "data.tokens",
    "data.stride",
    "data.unknown",
    "train.epochs",
    "train.batch_size",
    "train.learning_rate",
    "train.optimizer",
    "train.validation_split",
    "train.steps_per_epoch",
    "train.shuffle",
    "train.early_stopping.patience",
    "train.checkpoint_every",
    "train.distribute",
    "train.devices",
    "model",
    "nope.key",
    "train.epochs.deeper",
]
# Data files are picked from these (written per test), never from anywhere on the machine.
FILES = {
    "good.txt": b"hello hello hell oh hello\n" * 4,
    "short.txt": b"he",
    "empty.txt": b"",
    "latin1.txt": b"h\xe9llo",
    "good.jsonl": b'"hello"\n["h", "e", "l", "l", "o"]\n',
    "bad.jsonl": b'{"a": \n',
    "nums.jsonl": b"1\n2\n",
    "missing.txt": None,
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        ["auto", "lstm", "gru", "simple_rnn", "word", "char", "skip", "error", "h", "adam", "1e-3"]
    ),
    st.sampled_from(sorted(FILES)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
# Plausible values, so that a good share of the inputs is valid and really runs.
plausible = st.one_of(
    st.integers(0, 6),
    st.floats(0, 1),
    st.sampled_from(["lstm", "gru", "simple_rnn", "adam", "sgd", "char", "skip", "good.txt", "good.jsonl"]),
)
edits = st.lists(st.tuples(st.sampled_from(KEYS), st.one_of(plausible, plausible, values)), max_size=3)
set_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["1e-3", "yes", "[1, 2]", "{a: 1}", "-1", "0", ".inf", "'", "a: b: c", "&x", "!!python/none"]
    ),
)
sets = st.lists(
    st.tuples(st.sampled_from(KEYS + ["", ".", "a..b"]), st.one_of(set_text, st.integers(0, 6).map(str))),
    max_size=2,
)

COUNT: dict[str, int] = {}


def _apply(doc: dict, key: str, value) -> None:
    node = doc
    parts = key.split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def _document(folder: Path, edits_, raw: str | None) -> Path:
    for name, data in FILES.items():
        if data is not None and not (folder / name).exists():
            (folder / name).write_bytes(data)
    path = folder / "fuzz.yaml"
    if raw is not None:
        path.write_text(raw, encoding="utf-8")
        return path
    doc = copy.deepcopy(HELLO)
    for key, value in edits_:
        _apply(doc, key, value)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _check(result, command: str) -> None:
    key = f"{command} exit {result.exit_code}"
    COUNT[key] = COUNT.get(key, 0) + 1
    out = result.output + (result.stderr or "")
    assert result.exit_code in (0, 2), (result.exit_code, out, result.exception)
    assert "Traceback" not in out and "internal error" not in out, out


def _set_args(sets_) -> list[str]:
    return [a for k, v in sets_ for a in ("--set", f"{k}={v}")]


raw_yaml = st.text(alphabet=st.sampled_from(list("abh: -[]{},'\"\n#&*!|>0123456789.e_")), max_size=60)
documents = st.one_of(
    st.tuples(edits, st.none()), st.tuples(edits, st.none()), st.tuples(st.just([]), raw_yaml)
)


# The default run fuzzes a quarter of the inputs; CI's slow run fuzzes the full count besides
# (the default run stays under 5 minutes; each `train` input costs a training run).
DEPTH = [pytest.param(1, id="quick"), pytest.param(4, id="deep", marks=pytest.mark.slow)]


def _fuzzed(examples: int, body):
    """`body(doc, sets_)` run on `examples` generated inputs."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))(
        given(doc=documents, sets_=sets)(body)
    )


@pytest.mark.parametrize("depth", DEPTH)
def test_fuzz_config_validate(runner, tmp_path_factory, depth) -> None:
    def body(doc, sets_) -> None:
        path = _document(tmp_path_factory.mktemp("fz", numbered=True), *doc)
        _check(invoke(runner, "config", "validate", path, *_set_args(sets_)), "config validate")

    _fuzzed(100 * depth, body)()


@pytest.mark.parametrize("depth", DEPTH)
def test_fuzz_inspect(runner, tmp_path_factory, depth) -> None:
    def body(doc, sets_) -> None:
        path = _document(tmp_path_factory.mktemp("fz", numbered=True), *doc)
        _check(invoke(runner, "inspect", path, "--json", *_set_args(sets_)), "inspect")

    _fuzzed(10 * depth, body)()


@pytest.mark.parametrize("depth", DEPTH)
def test_fuzz_train(runner, tmp_path_factory, depth) -> None:
    def body(doc, sets_) -> None:
        folder = tmp_path_factory.mktemp("fz", numbered=True)
        path = _document(folder, *doc)
        sets_args = [*_set_args(sets_), "--set", "train.epochs=1"]
        _check(invoke(runner, "train", path, "--out", folder / "run", *sets_args, "--json"), "train")

    _fuzzed(5 * depth, body)()


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    """After this file's tests, whichever ran: the number of fuzzed inputs (`pytest -s`). A
    report, not a test: the checks are each input's own exit code and message."""
    yield
    print(f"\nfuzzed inputs (all exit 0 or 2): {COUNT} total {sum(COUNT.values())}")
