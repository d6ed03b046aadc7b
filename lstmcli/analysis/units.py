"""`units`: rank a layer's units by how well each state and gate tracks a feature of the text.

The "interpretable cell" search of Karpathy, Johnson & Fei-Fei (2015) as a computation: run a
text through the saved weights with the NumPy engine (no TensorFlow), compute a feature per
token — inside a regex match (yes/no), bracket nesting depth, position in the line, or for a
classifier the example's label — and score every (unit, state) pair: Pearson's correlation for
a numeric feature, the area under the ROC curve for a yes/no one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from lstmcli import runs, tasks
from lstmcli.config import Config
from lstmcli.errors import UsageError

MAX_TOKENS = 100_000
"""The default bound on the tokens scored: every gate of every unit at every step is held in
memory (6 × units × tokens float32 values for an LSTM: 77 MB at 32 units)."""

STRIP_TOKENS = 400
"""Tokens of the top unit's trace shown in the terminal (the first ones of the text)."""

Kind = Literal["match", "depth", "column", "label"]
Metric = Literal["correlation", "auc"]


@dataclass(frozen=True)
class Feature:
    """What the units are scored against: a kind, its arguments, and whether it is yes/no."""

    kind: Kind
    regex: str | None = None
    open: str | None = None
    close: str | None = None

    @property
    def binary(self) -> bool:
        return self.kind == "match"

    @property
    def metric(self) -> Metric:
        return "auc" if self.binary else "correlation"

    def describe(self) -> str:
        if self.kind == "match":
            return f"inside a match of /{self.regex}/"
        if self.kind == "depth":
            return f"nesting depth of {self.open!r} … {self.close!r}"
        if self.kind == "column":
            return "position in the line (tokens since the last newline)"
        return "the example's label (its index in the run's labels)"


@dataclass(frozen=True)
class UnitScore:
    unit: int
    state: str  # the name `inspect --gates` shows: h, c, i, f, g, o (LSTM); z, r, g, h (GRU)
    score: float  # Pearson r in [-1, 1], or AUC in [0, 1]
    metric: Metric


@dataclass
class UnitsResult:
    run_dir: str
    cell: str
    layer: int
    num_layers: int
    units: int
    feature: Feature
    source: str  # the --text file
    sequences: int
    tokens: int  # steps scored (all sequences)
    positives: int | None  # yes/no features: steps where the feature holds
    ranked: list[UnitScore]  # every (unit, state), best first
    steps: tuple[int | None, int | None] = (None, None)  # the slice of each sequence scored
    # The terminal's strip: the first sequence's first tokens, with the top unit's values there.
    strip_tokens: list[str] = field(default_factory=list)
    strip_values: list[float] = field(default_factory=list)
    strip_feature: list[float] = field(default_factory=list)
    sep: str = ""
    labels: list[str] | None = None


# ---------------------------------------------------------------- the scores (NumPy only)


def pearson(values: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson's r of each column of `values` (steps, k) with `feature` (steps,); a constant
    column scores 0 (it tracks nothing). Computed in float64."""
    x = np.asarray(values, np.float64)
    y = np.asarray(feature, np.float64)
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    num = yc @ xc
    den = np.sqrt((xc * xc).sum(axis=0) * float(yc @ yc))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(r, -1.0, 1.0)


def average_ranks(column: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties given their average rank (what the Mann–Whitney U needs).

    Hand-written because scipy.stats.rankdata would add SciPy to the core dependencies for
    four lines of NumPy: sort once, rank each distinct value by the middle of its run."""
    _, inverse, counts = np.unique(column, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    middle = ends - (counts - 1) / 2.0
    return np.asarray(middle[inverse.ravel()], np.float64)


def auc(values: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """The area under the ROC curve of each column of `values` (steps, k) as a score for the
    yes/no `positive` (steps,): the chance that a step where it holds has a higher value than
    one where it does not (ties count half) — the Mann–Whitney U over n_pos · n_neg."""
    pos = np.asarray(positive, bool)
    n_pos = int(pos.sum())
    n_neg = int(pos.size - n_pos)
    x = np.asarray(values, np.float64)
    out = np.empty(x.shape[1], np.float64)
    for k in range(x.shape[1]):
        ranks = average_ranks(x[:, k])
        u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
        out[k] = u / (n_pos * n_neg)
    return out


def rank(values: dict[str, np.ndarray], feature: np.ndarray, metric: Metric) -> list[UnitScore]:
    """Every (unit, state) scored against the feature, strongest first: by |r|, or by how far
    the AUC is from 0.5 (a unit that is low inside a match tracks it as well as one that is
    high). Ties keep the order of the states, then the units."""
    scored: list[UnitScore] = []
    for state, v in values.items():
        s = pearson(v, feature) if metric == "correlation" else auc(v, feature)
        scored.extend(UnitScore(int(u), state, float(x), metric) for u, x in enumerate(s))
    centre = 0.0 if metric == "correlation" else 0.5
    return sorted(scored, key=lambda x: -abs(x.score - centre))


# ---------------------------------------------------------------- the features


def token_spans(text: str, mode: str) -> list[tuple[int, int]]:
    """Where each token of `tokens.tokenize(text, mode)` sits in the text: (start, end)."""
    if mode == "word":
        return [m.span() for m in re.finditer(r"\S+", text)]  # str.split()'s tokens, with places
    return [(i, i + 1) for i in range(len(text))]


def match_feature(text: str, spans: list[tuple[int, int]], regex: str) -> np.ndarray:
    """1 where a token overlaps a match of `regex` in the text, else 0."""
    try:
        pattern = re.compile(regex)
    except re.error as e:
        raise UsageError(
            f"--match {regex!r}: expected a regular expression, got one that does not compile: {e}"
        ) from None
    inside = np.zeros(len(text) + 1, np.int64)
    for m in pattern.finditer(text):
        if m.end() > m.start():
            inside[m.start()] += 1
            inside[m.end()] -= 1
    covered = np.cumsum(inside)[: len(text)] > 0
    return np.array([covered[a:b].any() for a, b in spans], np.float64)


def depth_feature(tokens: list[str], open_: str, close: str) -> np.ndarray:
    """The nesting depth after each token: OPEN tokens so far minus CLOSE tokens so far (an
    OPEN token carries the depth it opens; a CLOSE token the depth it returns to)."""
    steps = np.array([1 if t == open_ else -1 if t == close else 0 for t in tokens], np.int64)
    return np.cumsum(steps).astype(np.float64)


def column_feature(text: str, spans: list[tuple[int, int]]) -> np.ndarray:
    """Tokens since the last newline: the first token of each line is at column 0 (a newline
    token ends its line, at the column it sits at)."""
    newlines = np.array([i for i, ch in enumerate(text) if ch == "\n"], np.int64)
    line_of = np.searchsorted(newlines, np.array([a for a, _ in spans], np.int64))  # "\n"s before
    first = np.zeros(len(spans), np.int64)
    if len(spans):
        starts = np.flatnonzero(np.r_[True, line_of[1:] != line_of[:-1]])
        first = np.repeat(starts, np.diff(np.r_[starts, len(spans)]))
    return (np.arange(len(spans)) - first).astype(np.float64)


# ---------------------------------------------------------------- reading the text


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: --text: no such file") from None
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{path}: --text: expected UTF-8 text, got an undecodable byte at offset {e.start}"
        ) from None


def _too_long(path: Path, got: int, bound: int, how: str) -> UsageError:
    return UsageError(
        f"{path}: expected at most {bound:,} tokens (--max-tokens), got {got:,}: score a slice "
        f"({how}) or raise --max-tokens"
    )


def _text_sequence(
    cfg: Config, path: Path, feature: Feature, max_tokens: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The text as one sequence (the state carries across lines, as in training) and the
    feature per token; tokens outside the vocabulary follow the run's data.unknown."""
    from lstmcli.data import unknown_error, vocab_of

    text = _read_text(path)
    mode = cfg.data.tokens
    spans = token_spans(text, mode)
    if not spans:
        raise UsageError(f"{path}: --text: expected at least one token, got an empty text")
    if len(spans) > max_tokens:
        part = f"{path} > part.txt"
        cut = f"head -c {max_tokens} {part}" if mode == "char" else f"head -n 200 {part}"
        raise _too_long(path, len(spans), max_tokens, cut)
    toks = [text[a:b] for a, b in spans]
    if feature.kind == "match":
        assert feature.regex is not None
        values = match_feature(text, spans, feature.regex)
    elif feature.kind == "depth":
        assert feature.open is not None and feature.close is not None
        values = depth_feature(toks, feature.open, feature.close)
    else:
        values = column_feature(text, spans)
    vocab = vocab_of(cfg)

    def refuse(n: int, token: str) -> UsageError:
        e = unknown_error(f"{path}: token {n}", vocab, token)
        if tasks.of(cfg).data == "examples" and text.lstrip().startswith("{"):
            return UsageError(f"{e.message}; --text is read as plain text: --label reads a JSON Lines file")
        return e

    ids, keep = vocab.ids_kept(toks, cfg.data.unknown, refuse)
    if not ids:
        raise UsageError(f"{path}: no token left after skipping unknown tokens")
    return [np.asarray(ids, np.int32)], [values[np.asarray(keep)]]


def _labelled_sequences(
    cfg: Config, path: Path, max_tokens: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """A classifier's labelled JSON Lines file (its own format), each example at its own length;
    the feature is the example's label index at each of its steps."""
    from lstmcli.tasks import classify

    task = tasks.of(cfg)
    if task.data != "examples" or not isinstance(cfg.labels, list):
        raise UsageError(f"--label: expected a classify run (task: classify), got task: {cfg.task}")
    if len(cfg.labels) != 2:
        raise UsageError(
            f"--label: expected a run with two labels (the label index is the feature), got "
            f"{len(cfg.labels)}: {', '.join(cfg.labels)}"
        )
    if not path.is_file():
        raise UsageError(f"{path}: --text: no such file")
    data = cfg.to_dict()
    data["data"] = {**data["data"], "sequences_file": str(path.resolve())}
    data["train"] = {**data["train"], "validation_split": 0.0}
    _, ex = task.load(Config.model_validate(data))
    assert isinstance(ex, classify.Examples)
    total = int(ex.lengths.sum())
    if total > max_tokens:
        raise _too_long(path, total, max_tokens, f"head -n 50 {path} > part.jsonl")
    seqs = [ex.example(i) for i in range(ex.count)]
    feature = [np.full(s.size, float(ex.labels[i])) for i, s in enumerate(seqs)]
    return seqs, feature, list(cfg.labels)


# ---------------------------------------------------------------- the command's computation


def parse_steps(spec: str | None) -> tuple[int | None, int | None]:
    """`--steps START:STOP`: the steps of each sequence scored, as a Python slice (either end may
    be left out; a negative one counts from the end)."""
    if spec is None:
        return None, None
    m = re.fullmatch(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*", spec)
    if not m:
        raise UsageError(f"--steps: expected START:STOP (e.g. 1:200, 100:, :-10), got {spec!r}")
    return (
        int(m[1]) if m[1] is not None else None,
        int(m[2]) if m[2] is not None else None,
    )


def units(
    run_dir: str | Path,
    text: Path,
    feature: Feature,
    *,
    layer: int = 0,
    steps: str | None = None,
    max_tokens: int = MAX_TOKENS,
) -> UnitsResult:
    """Score every unit's every state and gate of one layer against the feature, over the text."""
    from lstmcli.data import joiner, vocab_of
    from lstmcli.model.cell import CELLS
    from lstmcli.model.engine import NumpyEngine, layer_traces

    if max_tokens < 1:
        raise UsageError(f"--max-tokens: expected at least 1, got {max_tokens}")
    start, stop = parse_steps(steps)
    if feature.kind == "label" and steps is None:
        start = 1  # the first token is the class itself: score the steps that must remember it
    run = runs.open_run(run_dir)
    cfg = run.config
    if feature.kind == "depth" and feature.open == feature.close:
        raise UsageError(f"--depth: expected two different tokens OPEN CLOSE, got {feature.open!r} twice")
    labels = None
    if feature.kind == "label":
        seqs, per_seq, labels = _labelled_sequences(cfg, text, max_tokens)
    else:
        seqs, per_seq = _text_sequence(cfg, text, feature, max_tokens)
    eng = NumpyEngine.from_file(cfg, run.model_path, run.weights_cache)
    n_layers = eng.num_layers()
    if not 0 <= layer < n_layers:
        raise UsageError(f"--layer: expected 0..{n_layers - 1}, got {layer}")
    vocab = vocab_of(cfg)
    traces = layer_traces(cfg.model.cell, [eng.layer_weights(n) for n in range(layer + 1)], vocab, seqs)
    window = slice(start, stop)
    values = np.concatenate([f[window] for f in per_seq])
    if values.size == 0:
        raise UsageError(f"--steps {steps}: expected at least one step of the text, got none")
    spec = CELLS[cfg.model.cell]
    # h and c first, then the gates in the cell's own order.
    order = sorted(spec.steps, key=lambda s: (s[0] not in ("h", "c"), s[0] != "h"))
    states = {shown: np.concatenate([getattr(tr, attr)[window] for tr in traces]) for shown, attr in order}
    if feature.binary:
        positives = int(values.sum())
        if positives in (0, values.size):
            got = "every" if positives else "no"
            raise UsageError(
                f"{text}: {feature.describe()} holds at {got} token: a yes/no feature needs both "
                "to score the units"
            )
    else:
        positives = None
        if np.ptp(values) == 0:
            raise UsageError(
                f"{text}: {feature.describe()} is {values[0]:g} at every token scored: a constant "
                "has nothing to correlate with"
            )
    ranked = rank(states, values, feature.metric)
    best = ranked[0]
    n_strip = min(STRIP_TOKENS, int(seqs[0].size))
    strip = getattr(traces[0], dict(spec.steps)[best.state])[:n_strip, best.unit]
    return UnitsResult(
        run_dir=str(run_dir),
        cell=cfg.model.cell,
        layer=layer,
        num_layers=n_layers,
        units=cfg.model.units,
        feature=feature,
        source=str(text),
        sequences=len(seqs),
        tokens=int(values.size),
        positives=positives,
        ranked=ranked,
        steps=(start, stop),
        strip_tokens=[vocab.tokens[int(i)] for i in seqs[0][:n_strip]],
        strip_values=[float(v) for v in strip],
        strip_feature=[float(v) for v in per_seq[0][:n_strip]],
        sep=joiner(cfg),
        labels=labels,
    )
