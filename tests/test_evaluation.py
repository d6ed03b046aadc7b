"""Held-out evaluation: the test split, evaluate --data, the figures against Keras + a NumPy
cross-entropy, non-overlapping held-out windows, the validation cap, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, invoke, run_json
from lstmcli import config, data
from lstmcli.config import Config

TEXT = ROOT / "configs" / "data" / "lighthouse.txt"


def _write_config(tmp_path: Path, **train) -> Path:
    cfg = {
        "vocab": "auto",
        "sequence_length": 12,
        "seed": 0,
        "model": {"units": 8},
        "data": {"text_file": str(TEXT), "stride": 2},
        "train": {"epochs": 2, "batch_size": 32, "validation_split": 0.1, "test_split": 0.1, **train},
    }
    path = tmp_path / "t.yaml"
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="module")
def split_run(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    tmp = tmp_path_factory.mktemp("eval")
    out = tmp / "run"
    run_json(CliRunner(), "train", _write_config(tmp), "--out", out)
    return out


def _keras_cross_entropy(run: Path, tokens: np.ndarray) -> tuple[float, float]:
    """Mean -log p(target) and accuracy from the Keras model itself, in NumPy."""
    from lstmcli.model import backend

    cfg = config.load(run / "config.yaml")
    model = backend.load_model(run / "model.keras")
    x = np.eye(len(cfg.vocab), dtype=np.float32)[tokens[:, :-1]]
    p = np.asarray(model(x, training=False), dtype=np.float64)
    y = tokens[:, 1:]
    picked = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]
    return float(-np.log(picked).mean()), float((p.argmax(-1) == y).mean())


def test_test_split_matches_keras_and_a_numpy_cross_entropy(runner, split_run) -> None:
    r = run_json(runner, "evaluate", split_run)
    cfg = config.load(split_run / "config.yaml")
    windows = data.make_windows(cfg, data.read_corpus(cfg))
    index = windows.eval_index("test")
    tokens = windows.window_tokens(index).astype(np.int64)
    loss, accuracy = _keras_cross_entropy(split_run, tokens)
    m = r["metrics"]
    assert r["windows"] == len(index) and r["tokens"] == tokens[:, 1:].size
    assert m["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert m["test_accuracy"] == pytest.approx(accuracy, rel=1e-5)
    assert m["test_perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert m["test_bits_per_token"] == pytest.approx(loss / math.log(2), rel=1e-5)
    # train reported the same figures at its end
    saved = json.loads((split_run / "metrics.json").read_text())
    for k in m:
        assert saved[k] == pytest.approx(m[k], rel=1e-9)


def test_held_out_windows_do_not_overlap_and_are_never_trained_on(split_run) -> None:
    cfg = config.load(split_run / "config.yaml")
    w = data.make_windows(cfg, data.read_corpus(cfg))
    assert w.eval_every * w.stride == cfg.sequence_length
    used: dict[str, set[int]] = {}
    for part in ("train", "val", "test"):
        index = (
            w.eval_index(part)
            if part != "train"
            else np.concatenate([np.arange(a, b) for a, b in zip(*w.ranges("train"), strict=True)])
        )
        starts = w.starts(index)
        used[part] = {int(s + k) for s in starts for k in range(w.length)}
        if part != "train":
            # each held-out target token is predicted exactly once: windows share at most the
            # one token that ends a window's targets and starts the next one's inputs
            targets = [int(s + k) for s in starts for k in range(1, w.length)]
            assert len(targets) == len(set(targets))
    assert not used["train"] & used["val"] and not used["train"] & used["test"]
    assert not used["val"] & used["test"]


def test_evaluate_a_file_text_and_jsonl(runner, split_run, tmp_path) -> None:
    text = tmp_path / "held.txt"
    text.write_text(TEXT.read_text()[:2000])
    r = run_json(runner, "evaluate", split_run, "--data", text)
    assert r["data"] == str(text) and r["windows"] > 0
    lines = tmp_path / "held.jsonl"
    body = TEXT.read_text()[:2000]
    lines.write_text("\n".join(json.dumps(body[i : i + 400]) for i in range(0, 2000, 400)) + "\n")
    j = run_json(runner, "evaluate", split_run, "--data", lines, "--set", "train.eval_stride=4")
    assert j["eval_stride"] == 4 and j["windows"] > r["windows"]


def test_evaluate_data_predicts_every_token_once_as_keras_does(runner, split_run, tmp_path) -> None:
    """`evaluate --data` is the plain cross-entropy over stride-sequence_length windows of the
    file, cut here by hand: each token predicted once, none twice at a block boundary."""
    cfg = config.load(split_run / "config.yaml")
    body = TEXT.read_text()[:3001]
    text = tmp_path / "held.txt"
    text.write_text(body)
    r = run_json(runner, "evaluate", split_run, "--data", text)
    ids = np.array([cfg.vocab.index(c) for c in body], np.int64)
    t = cfg.sequence_length
    starts = np.arange(0, ids.size - t, t)
    tokens = ids[starts[:, None] + np.arange(t + 1)]
    loss, accuracy = _keras_cross_entropy(split_run, tokens)
    assert (r["windows"], r["tokens"], r["eval_stride"]) == (len(starts), len(starts) * t, t)
    assert r["metrics"]["test_loss"] == pytest.approx(loss, abs=1e-5)
    assert r["metrics"]["test_accuracy"] == pytest.approx(accuracy, abs=1e-5)


def test_evaluate_gates_and_bad_input(runner, split_run, hello_run, tmp_path) -> None:
    ok = invoke(runner, "evaluate", split_run, "--require", "test_loss<=100", "--json")
    assert ok.exit_code == 0
    unmet = invoke(runner, "evaluate", split_run, "--require", "test_accuracy>=0.999")
    assert unmet.exit_code == 3 and "not met" in unmet.stderr
    cases = [
        (hello_run,),  # no test split
        (split_run, "--set", "model.units=4"),
        (split_run, "--require", "val_loss<=1"),
        (split_run, "--data", tmp_path / "missing.txt"),
        (tmp_path,),  # not a run directory
    ]
    for args in cases:
        bad = invoke(runner, "evaluate", *args)
        assert bad.exit_code == 2, (args, bad.output)
        assert bad.stderr.count("Error:") == 1, bad.stderr


def test_train_require_on_test_metrics(runner, tmp_path) -> None:
    r = invoke(
        runner,
        "train",
        _write_config(tmp_path, epochs=1),
        "--out",
        tmp_path / "r",
        "--require",
        "test_accuracy>=0.999",
    )
    assert r.exit_code == 3 and "test_accuracy" in r.stderr
    assert "test_loss" in json.loads((tmp_path / "r" / "metrics.json").read_text())


def test_validation_is_capped_by_what_an_epoch_trains() -> None:
    from types import SimpleNamespace

    from lstmcli.training.pipeline import validation_steps

    tr = SimpleNamespace(batch_size=32, validation_steps=None, steps_per_epoch=None)
    assert validation_steps(tr, 10_000, 300, 300) == 313  # every window, one pass
    tr.steps_per_epoch = 20  # 100 MB, 10% held out: 20 of ~2.8 M training steps
    assert validation_steps(tr, 10_000_000 // 64, 20, 2_800_000) == 1
    tr.validation_steps = 5
    assert validation_steps(tr, 10_000_000 // 64, 20, 2_800_000) == 5


def test_test_split_leaves_validation_as_it_was(tmp_path) -> None:
    cfg = config.load(_write_config(tmp_path))
    cfg = data.resolve_vocab(cfg)
    corpus = data.read_corpus(cfg)
    with_test = data.make_windows(cfg, corpus)
    without = data.make_windows(
        cfg.model_copy(update={"train": cfg.train.model_copy(update={"test_split": 0.0})}), corpus
    )
    np.testing.assert_array_equal(with_test.val_blocks, without.val_blocks)
    assert with_test.test_blocks.size and not set(with_test.test_blocks) & set(with_test.train_blocks)


def test_split_too_large_is_a_config_error(tmp_path) -> None:
    with pytest.raises(Exception) as e:
        Config.model_validate(
            {
                "vocab": ["a", "b"],
                "sequence_length": 2,
                "data": {"sequences": ["ab"]},
                "train": {"validation_split": 0.5, "test_split": 0.5},
            }
        )
    assert "test_split" in str(e.value)
