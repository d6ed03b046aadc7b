"""Tokens ↔ ids ↔ one-hot, and the next-token training pairs a config describes (NumPy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import UsageError


@dataclass(frozen=True)
class Vocab:
    """The one-hot vocabulary: list order is the index."""

    tokens: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.tokens)

    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def ids(self, tokens: list[str], *, unknown: str = "error", where: str = "input") -> np.ndarray:
        """Token ids; `unknown` says what a token outside the vocabulary does: error, skip, or a
        vocabulary token used in its place."""
        index = self.index()
        out: list[int] = []
        for pos, t in enumerate(tokens):
            i = index.get(t)
            if i is None:
                if unknown == "skip":
                    continue
                if unknown != "error" and unknown in index:
                    i = index[unknown]
                else:
                    raise UsageError(
                        f"{where}: expected tokens from the vocabulary "
                        f"[{', '.join(self.tokens)}], got {t!r} at position {pos}"
                    )
            out.append(i)
        return np.asarray(out, dtype=np.int32)

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        """One-hot float32 of any id array: shape ids.shape + (size,)."""
        return np.eye(self.size, dtype=np.float32)[ids]

    def text(self, ids: list[int] | np.ndarray, sep: str = "") -> str:
        return sep.join(self.tokens[int(i)] for i in ids)


def vocab_of(cfg: Config) -> Vocab:
    return Vocab(tuple(cfg.vocab))


def joiner(cfg: Config) -> str:
    """How generated tokens are joined into text: nothing for characters, a space for words."""
    return " " if cfg.data.tokens == "word" else ""


def split_text(cfg: Config, text: str) -> list[str]:
    """Split a user's input text the way the config splits its data.

    A text is one token per character, unless the vocabulary holds multi-character tokens or
    the config reads words: then tokens are separated by whitespace.
    """
    if cfg.data.tokens == "word" or any(len(t) > 1 for t in cfg.vocab):
        return text.split()
    return list(text)


def encode_texts(cfg: Config, texts: list[str], where: str = "input") -> list[np.ndarray]:
    """Ids of each text; an empty text or a token outside the vocabulary is a usage error."""
    vocab = vocab_of(cfg)
    out = []
    for n, text in enumerate(texts):
        toks = split_text(cfg, text)
        label = f"{where} {text!r}" if len(texts) == 1 else f"{where} #{n + 1} {text!r}"
        if not toks:
            raise UsageError(f"{label}: expected at least one token, got an empty text")
        ids = vocab.ids(toks, unknown=cfg.data.unknown, where=label)
        if ids.size == 0:
            raise UsageError(f"{label}: no token left after skipping unknown tokens")
        out.append(ids)
    return out


def config_sequences(cfg: Config) -> list[np.ndarray]:
    """The config's inline sequences as id arrays."""
    vocab = vocab_of(cfg)
    if not cfg.data.sequences:
        raise UsageError("data: this version reads inline data.sequences only")
    return [vocab.ids(cfg.sequence_tokens(s), where="data.sequences") for s in cfg.data.sequences]


@dataclass
class TrainingData:
    """Next-token pairs: inputs[n, t] is followed by targets[n, t]."""

    inputs: np.ndarray  # (N, T) int32
    targets: np.ndarray  # (N, T) int32
    val_inputs: np.ndarray | None = None
    val_targets: np.ndarray | None = None


def training_data(cfg: Config) -> TrainingData:
    """Each sequence of sequence_length tokens gives sequence_length - 1 next-token pairs."""
    seqs = np.stack(config_sequences(cfg))
    if seqs.shape[1] < 2:
        raise UsageError("sequence_length: expected at least 2 tokens to predict a next one, got 1")
    inputs, targets = seqs[:, :-1], seqs[:, 1:]
    split = cfg.train.validation_split
    if split > 0:
        n_val = int(round(len(seqs) * split))
        if n_val < 1 or n_val >= len(seqs):
            raise UsageError(
                f"train.validation_split: expected a split leaving at least one sequence on each "
                f"side, got {split} of {len(seqs)} sequences"
            )
        order = np.random.default_rng(cfg.seed).permutation(len(seqs))
        val, tr = order[:n_val], order[n_val:]
        return TrainingData(inputs[tr], targets[tr], inputs[val], targets[val])
    return TrainingData(inputs, targets)
