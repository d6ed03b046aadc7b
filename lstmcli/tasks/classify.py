"""`task: classify`: labelled examples from JSON Lines, padding and truncation, the held-out split,
per-label precision / recall / F1 with a confusion matrix, and `predict`'s label probabilities;
its `Task` (the last state's softmax over the labels, padding masked) is registered by
`lstmcli.tasks`.

NumPy only: its tf.data pipeline is `training.pipeline.LabelDatasets` and its report gets the
Keras model's predictions from the training loop, so `config validate` reads and checks the
examples without TensorFlow.

An example is one line `{"text": "...", "label": "pos"}` or `{"tokens": [...], "label": "pos"}`.
Ids are padded with PAD up to `sequence_length`: the one-hot of -1 is a row of zeros, which the
model's `Masking` layer masks, so a padded step never changes the recurrent state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config, VocabOptions, kind_of
from lstmcli.data.files import json_lines
from lstmcli.data.vocab import Vocab, build_vocab, unknown_error, vocab_of
from lstmcli.errors import UsageError
from lstmcli.tasks.task import Task, TaskData, TaskReport
from lstmcli.tokens import tokenize

PAD = -1
"""The id of a padding step: `tf.one_hot(-1)` is all zeros, masked by the model's Masking layer."""

KEY = "data.sequences_file"
_SHAPE = 'a JSON object {"text": "...", "label": "..."} or {"tokens": [...], "label": "..."}'


@dataclass(frozen=True)
class Examples:
    """Every example of a classification data file, as ids padded to sequence_length."""

    ids: np.ndarray  # (N, sequence_length) int32, PAD after each example's tokens
    lengths: np.ndarray  # (N,) int64: tokens of each example (after truncation)
    labels: np.ndarray  # (N,) int32: index into cfg.labels
    train: np.ndarray  # (N - V,) int64 example indices, in the seeded order
    val: np.ndarray  # (V,) int64 example indices held out for validation (empty: none)
    source: str

    @property
    def count(self) -> int:
        return int(self.labels.size)

    def size(self, part: str) -> int:
        """Examples in the training, validation or (never, for a classifier) test part: the
        `Windows.size` of a next-token run."""
        return int({"train": self.train.size, "val": self.val.size}.get(part, 0))

    def example(self, i: int) -> np.ndarray:
        """The ids of example i without its padding."""
        return self.ids[i, : int(self.lengths[i])].astype(np.int32)


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-blank line."""
    return json_lines(path, KEY, _SHAPE)


def _example(cfg: Config, path: Path, n: int, value: Any) -> tuple[list[str], str]:
    """The tokens and the label of one line, or a usage error naming the file and the line."""
    where = f"{path}: line {n}"
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected {_SHAPE}, got {kind_of(value, json=True)}")
    extra = sorted(k for k in value if k not in ("text", "tokens", "label"))
    if extra:
        raise UsageError(
            f"{where}: expected the keys text or tokens, and label, got unknown key {extra[0]!r}"
        )
    label = _label(cfg, where, value)
    if ("text" in value) == ("tokens" in value):
        got = "both" if "text" in value else "neither"
        raise UsageError(f'{where}: expected one of "text" or "tokens", got {got}')
    if "text" in value:
        return _text_tokens(cfg, where, value["text"]), label
    return _listed_tokens(where, value["tokens"]), label


def _label(cfg: Config, where: str, value: dict[str, Any]) -> str:
    """The line's "label": a non-empty string, one of `labels` when they are listed."""
    if "label" not in value:
        raise UsageError(f'{where}: expected a "label", got none')
    label = value["label"]
    if not isinstance(label, str) or label == "":
        got = "an empty string" if label == "" else kind_of(label, json=True)
        raise UsageError(f'{where}: expected "label" to be a non-empty string, got {got}')
    if isinstance(cfg.labels, list) and label not in cfg.labels:
        raise UsageError(f"{where}: expected a label from [{', '.join(cfg.labels)}] (labels), got {label!r}")
    return label


def _text_tokens(cfg: Config, where: str, text: Any) -> list[str]:
    """The line's "text", tokenized as data.tokens says; at least one token."""
    if not isinstance(text, str):
        raise UsageError(f'{where}: expected "text" to be a string, got {kind_of(text, json=True)}')
    toks = tokenize(text, cfg.data.tokens)
    if not toks:
        raise UsageError(f"{where}: expected at least one token, got an empty text")
    return toks


def _listed_tokens(where: str, toks: Any) -> list[str]:
    """The line's "tokens": a non-empty list of non-empty strings."""
    if not isinstance(toks, list):
        raise UsageError(
            f'{where}: expected "tokens" to be a list of strings, got {kind_of(toks, json=True)}'
        )
    for i, t in enumerate(toks):
        if not isinstance(t, str) or t == "":
            got = "an empty token ''" if t == "" else kind_of(t, json=True)
            raise UsageError(f'{where}: expected "tokens" to be non-empty strings, got {got} at index {i}')
    if not toks:
        raise UsageError(f"{where}: expected at least one token, got an empty list")
    return list(toks)


def fit_length(ids: np.ndarray, cfg: Config, where: str) -> np.ndarray:
    """An example longer than sequence_length: an error, or cut as data.truncate says."""
    n, limit = int(ids.size), cfg.sequence_length
    if n <= limit:
        return ids
    how = cfg.data.truncate
    if how == "left":
        return ids[n - limit :]
    if how == "right":
        return ids[:limit]
    raise UsageError(
        f"{where}: expected at most {limit} tokens (sequence_length), got {n} "
        "(data.truncate: left or right cuts longer examples)"
    )


def _resolved(cfg: Config, rows: list[tuple[int, list[str], str]], path: Path) -> Config:
    """`vocab: auto` and `labels: auto` replaced by what the data holds (as resolve_vocab does)."""
    data = cfg.to_dict()
    if cfg.vocab_is_auto:
        counts: Counter[str] = Counter()
        for _, toks, _ in rows:
            counts.update(toks)
        tokens = build_vocab(list(counts.items()), cfg.vocab_options, cfg.data.unknown)
        if len(tokens) < 2:
            got = ", ".join(repr(t) for t in tokens) or "none"
            raise UsageError(
                f"{path}: expected at least 2 distinct tokens to build the vocabulary (vocab: auto), "
                f"got {len(tokens)}: {got}"
            )
        data["vocab"] = tokens
        data["vocab_options"] = VocabOptions.defaults().model_dump()
    if cfg.labels_are_auto:
        labels = sorted({label for _, _, label in rows})
        if len(labels) < 2:
            raise UsageError(
                f"{path}: expected at least 2 distinct labels (labels: auto), got {len(labels)}: "
                + ", ".join(repr(x) for x in labels)
            )
        data["labels"] = labels
    if data == cfg.to_dict():
        return cfg
    return Config.model_validate(data)


def load_examples(cfg: Config) -> tuple[Config, Examples]:
    """Read and check every example before TensorFlow is imported (train and `config validate`
    share this): returns the config with vocab and labels resolved, and the examples."""
    path = cfg.data.sequences_file
    if path is None:  # the schema requires it for classify; kept for mypy
        raise UsageError("data.sequences_file: expected a JSON Lines file for task: classify, got none")
    rows = [(n, *_example(cfg, path, n, value)) for n, value in _lines(path)]
    cfg = _resolved(cfg, rows, path)
    vocab = vocab_of(cfg)
    assert isinstance(cfg.labels, list)
    label_index = {x: i for i, x in enumerate(cfg.labels)}
    T = cfg.sequence_length
    ids = np.full((len(rows), T), PAD, np.int32)
    lengths = np.zeros(len(rows), np.int64)
    labels = np.zeros(len(rows), np.int32)
    for k, (n, toks, label) in enumerate(rows):
        seq = _ids(cfg, vocab, toks, f"{path}: line {n}")
        seq = fit_length(seq, cfg, f"{path}: line {n}")
        ids[k, : seq.size] = seq
        lengths[k] = seq.size
        labels[k] = label_index[label]
    train, val = split(len(rows), cfg.train.validation_split, cfg.seed)
    return cfg, Examples(ids, lengths, labels, train, val, str(path))


def resolve(cfg: Config) -> Config:
    """The config with `vocab: auto` and `labels: auto` read from the examples (both at once)."""
    if cfg.vocab_is_auto or cfg.labels_are_auto:
        return load_examples(cfg)[0]
    return cfg


def _ids(cfg: Config, vocab: Vocab, toks: list[str], where: str) -> np.ndarray:
    index = vocab.index()
    unknown = cfg.data.unknown
    out = []
    for pos, t in enumerate(toks):
        i = index.get(t)
        if i is None:
            if unknown == "error":
                raise unknown_error(f"{where}: position {pos}", vocab, t)
            if unknown == "skip":
                continue
            i = index[unknown]
        out.append(i)
    if not out:
        raise UsageError(f"{where}: no token left after skipping unknown tokens")
    return np.asarray(out, np.int32)


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole examples held out by seed: (training indices, validation indices)."""
    order = np.random.default_rng(seed).permutation(n).astype(np.int64)
    if fraction <= 0:
        return order, np.zeros(0, np.int64)
    n_val = int(round(n * fraction))
    if n_val < 1 or n_val >= n:
        raise UsageError(
            f"train.validation_split: expected a split leaving at least one example on each side, "
            f"got {fraction} of {n} examples"
        )
    return order[n_val:], order[:n_val]


# ---------------------------------------------------------------- metrics


CONFUSION = "confusion.json"
"""The run directory's confusion matrix (rows: true label, columns: predicted label)."""


def report(labels: list[str], truth: np.ndarray, predicted: np.ndarray, split_name: str) -> dict[str, Any]:
    """Per-label precision, recall, F1 and support, macro F1, and the confusion matrix
    (rows: true label, columns: predicted). A label never predicted has precision 0."""
    k = len(labels)
    matrix = np.zeros((k, k), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    per_label = []
    for i, name in enumerate(labels):
        tp = int(matrix[i, i])
        predicted_i, actual_i = int(matrix[:, i].sum()), int(matrix[i].sum())
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / actual_i if actual_i else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label.append(
            {"label": name, "precision": precision, "recall": recall, "f1": f1, "support": actual_i}
        )
    total = int(matrix.sum())
    return {
        "split": split_name,
        "examples": total,
        "accuracy": float(np.trace(matrix) / total) if total else 0.0,
        "macro_f1": float(np.mean([p["f1"] for p in per_label])),
        "per_label": per_label,
        "labels": list(labels),
        "matrix": matrix.tolist(),
    }


def flat_metrics(rep: dict[str, Any]) -> dict[str, float]:
    """metrics.json's flat numbers: val_precision_pos, val_recall_pos, val_f1_pos, …, val_macro_f1
    (no val_ prefix when they come from the training split: no validation_split)."""
    prefix = "val_" if rep["split"] == "validation" else ""
    out: dict[str, float] = {}
    for p in rep["per_label"]:
        for name in ("precision", "recall", "f1"):
            out[f"{prefix}{name}_{p['label']}"] = p[name]
    out[f"{prefix}macro_f1"] = rep["macro_f1"]
    return out


def metric_names(cfg: Config) -> list[str]:
    """The per-label metrics a classifier run will report (labels resolved)."""
    if not isinstance(cfg.labels, list):
        return []
    prefix = "val_" if cfg.train.validation_split > 0 else ""
    names = [f"{prefix}{m}_{label}" for label in cfg.labels for m in ("precision", "recall", "f1")]
    return [*names, f"{prefix}macro_f1"]


def train_report(cfg: Config, ex: TaskData, predict: Callable[[np.ndarray], np.ndarray]) -> TaskReport:
    """The report on the validation split (or on the training examples when there is none):
    `train --json`'s `classification`, metrics.json's per-label numbers and confusion.json."""
    assert isinstance(ex, Examples)
    part, name = (ex.val, "validation") if ex.val.size else (ex.train, "train")
    labels = cfg.labels if isinstance(cfg.labels, list) else []  # resolved before training
    rep = report(labels, ex.labels[part], predict(ex.ids[part]), name)
    confusion = {k: rep[k] for k in ("split", "labels", "matrix")}
    return TaskReport(document=rep, metrics=flat_metrics(rep), files={CONFUSION: confusion})


def example_sequences(cfg: Config, limit: int = 3) -> list[np.ndarray]:
    """The first `limit` examples' ids, unpadded (what `inspect CONFIG` shows for a classifier)."""
    _, ex = load_examples(cfg)
    return [ex.example(i) for i in range(min(limit, ex.count))]


# ---------------------------------------------------------------- predict


@dataclass
class LabelItem:
    text: str
    tokens: list[str]
    labels: list[tuple[str, float]]  # the top-k labels, most probable first


@dataclass
class LabelResult:
    run_dir: str
    engine: str
    items: list[LabelItem]


def predict_texts(t: Any, eng: Any, texts: list[str], top_k: int = 3) -> LabelResult:
    """Label probabilities of each text (`predict` on a classifier run): the text is read as the
    training data was (tokens, data.unknown, data.truncate), then run unpadded."""
    from lstmcli.data.vocab import encode_texts

    cfg = t.cfg
    assert isinstance(cfg.labels, list)
    vocab = vocab_of(cfg)
    items = []
    for text, ids in zip(texts, encode_texts(cfg, texts), strict=True):
        ids = fit_length(ids, cfg, f"input {text!r}")
        probs = eng.next_probabilities(ids)
        order = np.argsort(-probs, kind="stable")[: min(top_k, len(cfg.labels))]
        items.append(
            LabelItem(text, [vocab.tokens[i] for i in ids], [(cfg.labels[i], float(probs[i])) for i in order])
        )
    return LabelResult(str(t.path), eng.name, items)


def predict_labels(
    target: Any, engine: Callable[[], Any], texts: list[str], *, top_k: int, steps: int, temperature: float
) -> LabelResult:
    """`predict` on a classifier run: the options checked before its engine is built."""
    if steps or temperature:
        raise UsageError("--steps/--temperature: a classifier predicts labels; it generates no tokens")
    return predict_texts(target, engine(), texts, top_k)


TASK = Task(
    name="classify",
    data="examples",
    output="labels",
    head="last_state",
    # Padding is an all-zero one-hot row (PAD): masked, it never changes the state, and the last
    # layer's output is the state after the example's last token.
    masks_padding=True,
    output_layer="label",
    load=load_examples,
    resolve=resolve,
    sequences=example_sequences,
    metric_names=metric_names,
    metric_names_need_data=True,  # labels: auto is known once the examples are read
    report=train_report,
    predict=predict_labels,
)
