"""The one-hot vocabulary: tokens ↔ ids ↔ one-hot, input texts to ids, and how `vocab: auto`
orders the tokens it counts (NumPy only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstmcli.config import Config, VocabOptions
from lstmcli.errors import UsageError
from lstmcli.tokens import tokenize


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

        def refuse(pos: int, token: str) -> UsageError:
            return UsageError(
                f"{where}: expected tokens from the vocabulary {self.shown()}, "
                f"got {token!r} at position {pos}"
            )

        out, _ = self.ids_kept(tokens, unknown, refuse)
        return np.asarray(out, dtype=np.int32)

    def ids_kept(
        self, tokens: list[str], unknown: str, refuse: Callable[[int, str], UsageError]
    ) -> tuple[list[int], list[int]]:
        """The one rule for a token outside the vocabulary (`unknown`: error, skip, or a stand-in):
        the ids, and the position in `tokens` each came from (skip leaves gaps); `refuse(position,
        token)` is the error raised under `error`."""
        index = self.index()
        ids: list[int] = []
        kept: list[int] = []
        for pos, t in enumerate(tokens):
            i = index.get(t)
            if i is None:
                if unknown == "skip":
                    continue
                if unknown == "error" or unknown not in index:
                    raise refuse(pos, t)
                i = index[unknown]
            ids.append(i)
            kept.append(pos)
        return ids, kept

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        """One-hot float32 of any id array: shape ids.shape + (size,)."""
        out: np.ndarray = np.eye(self.size, dtype=np.float32)[ids]
        return out

    def text(self, ids: list[int] | np.ndarray, sep: str = "") -> str:
        return sep.join(self.tokens[int(i)] for i in ids)

    def shown(self, limit: int = 20) -> str:
        """The vocabulary for a one-line message: `[h, e, l, o]`; quoted when a token holds
        whitespace, a comma or a control character; cut short after `limit` tokens."""
        plain = all(t.isprintable() and "," not in t and not any(c.isspace() for c in t) for t in self.tokens)
        shown = [t if plain else repr(t) for t in self.tokens[:limit]]
        more = f", … {self.size} tokens" if self.size > limit else ""
        return f"[{', '.join(shown)}{more}]"


def id_dtype(vocab_size: int) -> np.dtype[Any]:
    """The smallest unsigned integer dtype holding ids 0 … vocab_size - 1."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


def vocab_of(cfg: Config) -> Vocab:
    if cfg.vocab_is_auto:
        # A programming error, not the user's: every command resolves the config first.
        raise RuntimeError("vocab: auto is not built yet: call lstmcli.data.resolve_vocab(cfg) first")
    return Vocab(tuple(cfg.vocab))


def joiner(cfg: Config) -> str:
    """How generated tokens are joined into text: nothing for characters, a space for words."""
    return " " if cfg.data.tokens == "word" else ""


def encode_texts(cfg: Config, texts: list[str], where: str = "input") -> list[np.ndarray]:
    """Ids of each text; an empty text or a token outside the vocabulary is a usage error."""
    vocab = vocab_of(cfg)
    out = []
    for n, text in enumerate(texts):
        toks = tokenize(text, cfg.data.tokens)
        label = f"{where} {text!r}" if len(texts) == 1 else f"{where} #{n + 1} {text!r}"
        if not toks:
            raise UsageError(f"{label}: expected at least one token, got an empty text")
        try:
            ids = vocab.ids(toks, unknown=cfg.data.unknown, where=label)
        except UsageError as e:
            words = [t for t in vocab.tokens if len(t) > 1 and t != cfg.data.unknown]
            if cfg.data.tokens == "char" and words:
                # A vocabulary of words read as characters: say how to read them as words.
                raise UsageError(
                    f"{e.message} (data.tokens is char, so every character is a token; "
                    "set data.tokens: word to split texts on whitespace)"
                ) from None
            raise
        if ids.size == 0:
            raise UsageError(f"{label}: no token left after skipping unknown tokens")
        out.append(ids)
    return out


def build_vocab(counted: list[tuple[str, int]], options: VocabOptions, unknown: str = "error") -> list[str]:
    """The vocabulary `vocab: auto` builds from (token, count) pairs given in order of first
    appearance in the data.

    Order: descending count; ties keep the order of first appearance (the file read front to
    back, line by line), so the same data always gives the same one-hot index. Tokens seen fewer
    than `min_count` times are left out, then only the `max_size` most frequent are kept. When
    `unknown` names a token (the stand-in for tokens outside the vocabulary), that token is
    always in the vocabulary and counts toward `max_size`: where its own count ranks it, or last.
    """
    ranked = sorted(counted, key=lambda tc: -tc[1])  # stable: ties stay in first-appearance order
    kept = [t for t, n in ranked if n >= options.min_count]
    limit = options.max_size
    if unknown in ("error", "skip"):
        return kept[:limit] if limit else kept
    if limit is None:
        return kept if unknown in kept else [*kept, unknown]
    if unknown in kept[:limit]:
        return kept[:limit]
    return [*[t for t in kept if t != unknown][: limit - 1], unknown]


def unknown_error(where: str, vocab: Vocab, token: str) -> UsageError:
    return UsageError(
        f"{where}: expected tokens from the vocabulary {vocab.shown()}, got {token!r} "
        "(data.unknown is error: set it to skip, or to a vocabulary token used instead)"
    )


def stand_in_id(cfg: Config, vocab: Vocab) -> int:
    """The id that replaces a token outside the vocabulary, or -1 (error, skip)."""
    unknown = cfg.data.unknown
    return -1 if unknown in ("error", "skip") else vocab.index()[unknown]
