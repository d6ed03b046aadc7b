"""task: classify — the data file, padding and masking, labels, train / predict / inspect / resume."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke, run_json, weights_sha256
from lstmcli import config
from lstmcli.errors import UsageError
from lstmcli.tasks import classify

LABELS = {"a": "pos", "b": "neg", "c": "meh"}


def _toy_lines(n: int = 120, seed: int = 0) -> list[str]:
    """The label is the first character; lengths vary from 1 to 9, so most examples are padded."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        first = rng.choice("abc")
        text = first + "".join(rng.choice("xyz") for _ in range(rng.randint(0, 8)))
        out.append(json.dumps({"text": text, "label": LABELS[first]}))
    return out


def _write(tmp_path: Path, lines: list[str], **over: object) -> Path:
    (tmp_path / "ex.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    body = {
        "task": "classify",
        "vocab": "auto",
        "labels": "auto",
        "sequence_length": 10,
        "model": {"units": 8},
        "data": {"sequences_file": "ex.jsonl"},
        "train": {"epochs": 30, "batch_size": 16, "learning_rate": 0.05, "validation_split": 0.25},
    }
    for key, value in over.items():
        section, _, name = key.partition("__")
        if name:
            body.setdefault(section, {})[name] = value  # type: ignore[union-attr]
        else:
            body[section] = value
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(body), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from lstmcli.cli import app

    d = tmp_path_factory.mktemp("toy")
    cfg = _write(d, _toy_lines())
    out = d / "run"
    r = CliRunner().invoke(app, ["train", str(cfg), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    (d / "train.json").write_text(r.stdout)
    return out


# ---------------------------------------------------------------- config


def test_task_defaults_to_next_token_and_classify_needs_labels_and_a_file() -> None:
    base = {"vocab": ["a", "b"], "sequence_length": 3, "data": {"sequences": ["aba"]}}
    assert config.validate(dict(base), "x").task == "next_token"
    with pytest.raises(Exception, match="labels: expected a list of labels or auto for task: classify"):
        config.validate({**base, "task": "classify", "data": {"sequences_file": "f.jsonl"}}, "x")
    with pytest.raises(Exception, match="data.sequences_file: expected a JSON Lines file"):
        config.validate({**base, "task": "classify", "labels": "auto"}, "x")
    with pytest.raises(Exception, match="labels: expected no labels for task: next_token"):
        config.validate({**base, "labels": ["x", "y"]}, "x")
    with pytest.raises(Exception, match="task: expected 'next_token' or 'classify'"):
        config.validate({**base, "task": "regress"}, "x")
    with pytest.raises(Exception, match="labels: expected distinct labels"):
        config.validate({**base, "task": "classify", "labels": ["p", "p"]}, "x")


# ---------------------------------------------------------------- reading examples


def test_labels_auto_are_sorted_and_written_into_the_run_config(toy_run) -> None:
    saved = config.load(toy_run / "config.yaml")
    assert saved.labels == ["meh", "neg", "pos"]
    assert isinstance(saved.vocab, list) and set(saved.vocab) == set("abcxyz")


def test_tokens_form_and_padding(tmp_path) -> None:
    lines = [
        json.dumps({"tokens": ["<s>", "hi"], "label": "p"}),
        json.dumps({"text": "hi hi hi", "label": "q"}),
    ]
    cfg, ex = classify.load_examples(
        config.load(
            _write(tmp_path, lines, data__tokens="word", sequence_length=4, train__validation_split=0.0)
        )
    )
    assert cfg.vocab == ["hi", "<s>"] and cfg.labels == ["p", "q"]
    np.testing.assert_array_equal(ex.ids, [[1, 0, -1, -1], [0, 0, 0, -1]])
    np.testing.assert_array_equal(ex.lengths, [2, 3])


@pytest.mark.parametrize(("how", "kept"), [("left", "defgh"), ("right", "abcde")])
def test_truncate_left_keeps_the_end_right_keeps_the_start(tmp_path, how, kept) -> None:
    lines = [json.dumps({"text": "abcdefgh", "label": "p"}), json.dumps({"text": "ab", "label": "q"})]
    cfg, ex = classify.load_examples(
        config.load(
            _write(
                tmp_path,
                lines,
                sequence_length=5,
                vocab=list("abcdefgh"),
                data__truncate=how,
                train__validation_split=0.0,
            )
        )
    )
    assert "".join(cfg.vocab[i] for i in ex.example(0)) == kept


def test_truncate_error_names_the_line(tmp_path) -> None:
    lines = [json.dumps({"text": "ab", "label": "p"}), json.dumps({"text": "abcdefgh", "label": "q"})]
    with pytest.raises(
        UsageError, match=r"ex.jsonl: line 2: expected at most 5 tokens \(sequence_length\), got 8"
    ):
        classify.load_examples(config.load(_write(tmp_path, lines, sequence_length=5)))


def test_validation_split_holds_out_whole_examples_by_seed(tmp_path) -> None:
    cfg = config.load(_write(tmp_path, _toy_lines(40)))
    _, a = classify.load_examples(cfg)
    _, b = classify.load_examples(cfg)
    assert a.val.size == 10 and a.train.size == 30
    assert not set(a.val) & set(a.train) and set(a.val) | set(a.train) == set(range(40))
    np.testing.assert_array_equal(a.val, b.val)


BAD = [
    ('{"text": "ab"}', 'line 2: expected a "label", got none'),
    ('{"text": "ab", "label": "zzz"}', "line 2: expected a label from [neg, pos] (labels), got 'zzz'"),
    ('{"text": "", "label": "pos"}', "line 2: expected at least one token, got an empty text"),
    ('{"text": "ab", "label": 3}', 'line 2: expected "label" to be a non-empty string, got number 3'),
    ('{"tokens": [], "label": "pos"}', "line 2: expected at least one token, got an empty list"),
    ('"ab"', "line 2: expected a JSON object"),
    (
        '{"text": "ab", "tokens": ["a"], "label": "pos"}',
        'line 2: expected one of "text" or "tokens", got both',
    ),
]


@pytest.mark.parametrize(("line", "fragment"), BAD)
def test_bad_examples_exit_2_naming_file_and_line_and_write_nothing(runner, tmp_path, line, fragment) -> None:
    cfg = _write(tmp_path, ['{"text": "ab", "label": "pos"}', line], labels=["neg", "pos"])
    out = tmp_path / "run"
    r = invoke(runner, "train", cfg, "--out", out)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"Error: {tmp_path / 'ex.jsonl'}: {fragment}"), r.stderr
    assert not out.exists()
    v = invoke(runner, "config", "validate", cfg)
    assert v.exit_code == 2 and v.stderr == r.stderr  # one code path, one message


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_padding_never_changes_the_state_numpy_and_keras(tmp_path, cell) -> None:
    """Padded to 7 steps, or not padded at all: the same last state, in NumPy and in Keras."""
    from lstmcli.model import backend
    from lstmcli.model.cell import forward
    from lstmcli.model.kerasfile import load_spec

    cfg = config.load(_write(tmp_path, _toy_lines(12), model={"units": 5, "cell": cell}))
    cfg, _ = classify.load_examples(cfg)
    backend.set_seed(3)
    model = backend.build_model(cfg)
    model.save(tmp_path / "m.keras")
    spec = load_spec(tmp_path / "m.keras")
    assert spec.masking and spec.classifier
    v = len(cfg.vocab)
    ids = np.array([0, 3, 1], np.int32)
    x = np.eye(v, dtype=np.float32)[ids][None]
    padded = np.concatenate([x, np.zeros((1, 4, v), np.float32)], axis=1)
    keras_short = np.asarray(model(x, training=False))[0]
    keras_padded = np.asarray(model(padded, training=False))[0]
    np.testing.assert_allclose(keras_padded, keras_short, atol=1e-6)
    traces, probs = forward(spec.stack(), padded, mask=padded.any(-1))
    np.testing.assert_allclose(probs[0, -1], keras_short, atol=1e-5)
    h = traces[-1].h[0]
    for t in range(3, 7):  # every padded step leaves h (and c) as the last real step left it
        np.testing.assert_array_equal(h[t], h[2])
        if cell == "lstm":
            np.testing.assert_array_equal(traces[-1].c[0][t], traces[-1].c[0][2])


# ---------------------------------------------------------------- train, predict, inspect


def test_train_reports_per_label_metrics_and_a_confusion_matrix(toy_run) -> None:
    doc = json.loads((toy_run.parent / "train.json").read_text())
    m = doc["metrics"]
    assert m["val_accuracy"] >= 0.9
    for label in ("meh", "neg", "pos"):
        for name in ("precision", "recall", "f1"):
            assert 0.0 <= m[f"val_{name}_{label}"] <= 1.0
    c = doc["classification"]
    assert c["split"] == "validation" and c["examples"] == 30
    assert c["confusion"]["labels"] == ["meh", "neg", "pos"]
    matrix = np.array(c["confusion"]["matrix"])
    assert matrix.sum() == 30 and np.trace(matrix) / 30 == pytest.approx(c["accuracy"])
    assert json.loads((toy_run / "metrics.json").read_text()) == m
    saved = json.loads((toy_run / "confusion.json").read_text())
    assert saved["matrix"] == c["confusion"]["matrix"] and saved["split"] == "validation"
    record = json.loads((toy_run / "run.json").read_text())
    assert record["kernel"] == record["choice"]["kernel"]  # auto: the kernel model.choose named ran


def test_report_numbers() -> None:
    rep = classify.report(["a", "b"], np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), "validation")
    assert rep["matrix"] == [[1, 1], [0, 2]]
    a, b = rep["per_label"]
    assert (a["precision"], a["recall"]) == (1.0, 0.5) and a["f1"] == pytest.approx(2 / 3)
    assert (b["precision"], b["recall"]) == (2 / 3, 1.0) and b["support"] == 2
    assert classify.flat_metrics(rep)["val_f1_b"] == pytest.approx(0.8)


def test_predict_json_shape_and_top_k(runner, toy_run) -> None:
    doc = run_json(runner, "predict", toy_run, "axyz", "bz", "--top-k", "2")
    assert [r["input"] for r in doc["results"]] == ["axyz", "bz"]
    first = doc["results"][0]
    assert first["label"] == "pos" and first["tokens"] == list("axyz")
    assert [set(x) for x in first["labels"]] == [{"label", "probability"}] * 2
    assert first["labels"][0]["probability"] >= first["labels"][1]["probability"]
    assert doc["results"][1]["labels"][0]["label"] == "neg"
    full = run_json(runner, "predict", toy_run, "axyz", "--top-k", "9")["results"][0]["labels"]
    assert sum(x["probability"] for x in full) == pytest.approx(1.0, abs=1e-5) and len(full) == 3
    keras = run_json(runner, "predict", toy_run, "axyz", "--engine", "keras")["results"][0]["labels"]
    assert keras[0]["probability"] == pytest.approx(first["labels"][0]["probability"], abs=1e-5)
    bad = invoke(runner, "predict", toy_run, "axyz", "--steps", "2")
    assert bad.exit_code == 2 and "a classifier predicts labels" in bad.stderr


def test_require_and_compare_on_a_classifier(runner, toy_run, tmp_path) -> None:
    assert run_json(runner, "compare", toy_run, toy_run)
    r = invoke(
        runner,
        "train",
        _write(tmp_path, _toy_lines()),
        "--out",
        tmp_path / "r",
        "--require",
        "val_f1_nope>=1",
    )
    assert r.exit_code == 2 and "val_f1_pos" in r.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_inspect_verify_on_a_classifier(runner, tmp_path, toy_run, cell) -> None:
    if cell == "lstm":
        run = toy_run
    else:
        run = tmp_path / "run"
        cfg = _write(
            tmp_path, _toy_lines(40), model={"units": 6, "cell": cell, "num_layers": 2}, train__epochs=2
        )
        assert invoke(runner, "train", cfg, "--out", run, "--json").exit_code == 0
    for layer in ("0", "1") if cell != "lstm" else ("0",):
        doc = run_json(runner, "inspect", run, "--verify", "--gates", "--layer", layer, "--input", "axy")
        assert doc["verify"]["ok"] and doc["verify"]["max_abs_diff"] <= 1e-5
        assert doc["inputs"] == [["a", "x", "y"]]
    assert run_json(runner, "inspect", run)["inputs"]  # the data file's first examples


@pytest.mark.slow  # three classifier trainings: CI's slow run (next-token resume stays in the default run)
def test_resume_of_a_classifier_is_bit_identical(runner, tmp_path) -> None:
    cfg = _write(tmp_path, _toy_lines(60), train__epochs=4)
    run_json(runner, "train", cfg, "--out", tmp_path / "whole")
    run_json(runner, "train", cfg, "--out", tmp_path / "half", "--set", "train.epochs=2")
    run_json(runner, "train", "--resume", tmp_path / "half", "--set", "train.epochs=4")
    assert weights_sha256(tmp_path / "half" / "model.keras") == weights_sha256(
        tmp_path / "whole" / "model.keras"
    )
    a = json.loads((tmp_path / "half" / "metrics.json").read_text())
    b = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert a == pytest.approx(b, abs=1e-6)


# Two classifier trainings end to end: CI's slow run (test_kernels checks the masked step by default).
@pytest.mark.slow
def test_a_classifier_trains_on_the_fast_kernel_as_on_the_stock_layer(runner, tmp_path) -> None:
    """Padding masked in the fast kernel as Keras masks it: the same config trained with
    `train.kernel: fast` and `stock` ends with the same held-out metrics (2 layers, padded
    examples); the kernel's own gradient test bounds the difference step by step."""
    from lstmcli.training.loop import resolve_kernel

    cfg = _write(tmp_path, _toy_lines(60), model={"units": 6, "num_layers": 2}, train__epochs=6)
    assert resolve_kernel(config.load(cfg), 100_000) == "fast"  # auto, on a CPU, a long run
    metrics = {}
    for kernel in ("fast", "stock"):
        run = tmp_path / kernel
        run_json(runner, "train", cfg, "--out", run, "--set", f"train.kernel={kernel}")
        record = json.loads((run / "run.json").read_text())
        assert record["kernel"] == kernel and record["kernels"] == {"lstm_0": kernel, "lstm_1": kernel}
        metrics[kernel] = json.loads((run / "metrics.json").read_text())
    assert metrics["fast"] == pytest.approx(metrics["stock"], abs=1e-4)
