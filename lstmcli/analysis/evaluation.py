"""Held-out evaluation: loss, accuracy, perplexity and bits per token of a run on windows it
never trained on (the run's test split, or another file), through the NumPy engine.

Why NumPy and not Keras: evaluation is a forward pass over a saved model.keras, and lstmcli
already reproduces it to 1e-5 without TensorFlow (lstmcli.model.cell, checked against Keras by the
cell tests). Importing TensorFlow and loading the model costs ~3 s before the first window;
the NumPy engine starts in ~0.1 s, so `evaluate --require` gates in CI cost what they measure.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import runs
from lstmcli.config import Config
from lstmcli.data import Windows, make_windows, read_corpus
from lstmcli.errors import UsageError

METRICS = ("test_loss", "test_accuracy", "test_perplexity", "test_bits_per_token")

EPSILON = 1e-7
"""Probabilities are clipped to [EPSILON, 1 - EPSILON] before the log, as Keras's cross-entropy
does, so held-out figures compare with the training loop's."""

ONE_HOT_BYTES = 32 << 20
"""A batch's one-hot input stays below this many bytes, whatever the vocabulary."""

# `evaluate --set` may change how the data are read, never the model or the split.
EVALUATE_KEYS = ("data.unknown", "train.eval_stride")

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass
class Evaluation:
    run_dir: Path
    data: str  # "test split" or the file evaluated
    windows: int
    tokens: int
    eval_stride: int
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def metrics_of(loss_sum: float, correct: float, tokens: float, prefix: str = "test_") -> dict[str, float]:
    """Mean loss per token, accuracy, perplexity (exp of the mean loss), bits per token (loss / ln 2)."""
    loss = loss_sum / tokens
    return {
        f"{prefix}loss": loss,
        f"{prefix}accuracy": correct / tokens,
        f"{prefix}perplexity": math.exp(min(loss, 700.0)),
        f"{prefix}bits_per_token": loss / math.log(2),
    }


def cross_entropy(probs: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """(sum of -log p(target), correct argmax count) of probabilities (..., vocab)."""
    p = probs / probs.sum(axis=-1, keepdims=True)
    picked = np.take_along_axis(p, targets[..., None], axis=-1)[..., 0]
    loss = -np.log(np.clip(picked.astype(np.float64), EPSILON, 1.0 - EPSILON)).sum()
    correct = (np.argmax(probs, axis=-1) == targets).sum()
    return float(loss), float(correct)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run NumPy's BLAS on one thread for the duration.

    The NumPy engine multiplies small matrices once per timestep ((256, units) by (units,
    4 units)); BLAS threads cost more than they save there (several times slower with two
    OpenBLAS threads on a 2-core machine). threadpoolctl finds whichever BLAS NumPy loaded
    (OpenBLAS, MKL, BLIS) and restores its thread count afterwards.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def measure(
    spec: Any, windows: Windows, index: np.ndarray, vocab_size: int, batch: int = 256
) -> dict[str, float]:
    """Evaluate a model spec (lstmcli.model.kerasfile) on the given windows, in batches."""
    with one_blas_thread():
        return _measure(spec, windows, index, vocab_size, batch)


def _measure(spec: Any, windows: Windows, index: np.ndarray, vocab_size: int, batch: int) -> dict[str, float]:
    from lstmcli.model.cell import forward

    stack = spec.stack()
    eye = np.eye(vocab_size, dtype=np.float32)
    steps = windows.length - 1
    batch = max(1, min(batch, ONE_HOT_BYTES // (4 * steps * vocab_size)))
    loss_sum = correct = 0.0
    for start in range(0, index.size, batch):
        tokens = windows.window_tokens(index[start : start + batch]).astype(np.int64)
        _, probs = forward(stack, eye[tokens[:, :-1]])
        loss, hits = cross_entropy(probs, tokens[:, 1:])
        loss_sum += loss
        correct += hits
    return metrics_of(loss_sum, correct, float(index.size * steps))


def test_metrics(
    run_dir: Path, cfg: Config, windows: Windows, *, model: Path | None = None
) -> dict[str, float]:
    """The test split's metrics of the model in `run_dir` (train calls this at its end with the
    model it keeps, before that becomes model.keras)."""
    from lstmcli.model import engine, kerasfile

    path = model or run_dir / runs.MODEL
    spec = kerasfile.load_spec(path)
    engine.check_spec(cfg, spec, path)
    return measure(spec, windows, windows.eval_index("test"), len(cfg.vocab))


def data_config(cfg: Config, path: Path) -> Config:
    """The run's config reading `path` instead of its training data: text, or JSON Lines by
    its suffix (.jsonl, .ndjson, .json), with the run's tokens, unknown and stride."""
    key = "sequences_file" if path.suffix.lower() in JSONL_SUFFIXES else "text_file"
    update = {"sequences": None, "text_file": None, "sequences_file": None, key: path.resolve()}
    return cfg.model_copy(update={"data": cfg.data.model_copy(update=update)})


def check_sets(sets: list[str]) -> None:
    from lstmcli.config import parse_set

    for item in sets:
        key = ".".join(parse_set(item)[0])
        if key not in EVALUATE_KEYS:
            raise UsageError(
                f"--set {item}: expected one of {', '.join(EVALUATE_KEYS)} for evaluate (keys that "
                f"change neither the model nor the split), got {key}"
            )


def evaluate(run_dir: Path, data: Path | None = None, sets: list[str] | None = None) -> Evaluation:
    """Evaluate a run on its own test split, or on a data file read like its training data."""
    from lstmcli import config as config_mod
    from lstmcli.model import engine, kerasfile

    check_sets(list(sets or []))
    run = runs.open_run(run_dir)
    cfg = run.config
    if sets:
        cfg = config_mod.validate(
            config_mod.apply_sets(cfg.to_dict(), list(sets)), str(run_dir / runs.CONFIG)
        )
    spec = kerasfile.load_spec(run.model_path, run.weights_cache)
    engine.check_spec(cfg, spec, run.model_path)
    t0 = time.perf_counter()
    if data is None:
        if cfg.train.test_split <= 0:
            raise UsageError(
                f"{run_dir}: has no test split (train.test_split is 0): give --data FILE, or train "
                "with --set train.test_split=0.1"
            )
        with config_mod.in_source(str(run_dir / runs.CONFIG)):
            windows = make_windows(cfg, read_corpus(cfg))
        index = windows.eval_index("test")
        shown = "test split"
    else:
        if not data.is_file():
            raise UsageError(f"{data}: no such data file (--data)")
        cfg = data_config(cfg, data)
        with config_mod.in_source(str(run_dir / runs.CONFIG)):
            windows = make_windows(cfg, read_corpus(cfg), validation_split=0.0)
        index = windows.eval_index("train")  # every window of the file: nothing is held out of it
        shown = str(data)
    metrics = measure(spec, windows, index, len(cfg.vocab))
    return Evaluation(
        run_dir=run_dir,
        data=shown,
        windows=int(index.size),
        tokens=int(index.size * (windows.length - 1)),
        eval_stride=windows.stride * windows.eval_every,
        metrics=metrics,
        seconds=round(time.perf_counter() - t0, 3),
    )
