"""Sliding windows over a corpus, by arithmetic, and the seeded validation / test split (NumPy
only): what training, validation, evaluation and `inspect CONFIG` read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstmcli.config import Config
from lstmcli.data.sources import Corpus, read_corpus, resolve_vocab
from lstmcli.data.vocab import vocab_of
from lstmcli.errors import UsageError

MAX_BLOCKS = 1 << 20
"""At most this many blocks of windows: the block ids of a pass fit in 8 MB."""


# ---------------------------------------------------------------- windows


@dataclass(frozen=True)
class Windows:
    """Every training window of a corpus, by arithmetic: nothing per window is stored.

    Window i lies in the document d with doc_windows[d] <= i < doc_windows[d + 1] and starts
    at doc_offsets[d] + (i - doc_windows[d]) * stride; it holds `length` tokens, inputs
    window[:-1] and targets window[1:]. Windows are grouped in blocks of `block` consecutive
    windows; the validation split holds out whole blocks, and a training block next to a
    validation block gives up its `gap` windows nearest to it, so no training window shares a
    token with a validation window.
    """

    ids: np.ndarray
    length: int
    stride: int
    doc_offsets: np.ndarray  # (D,) int64, documents with at least one window only
    doc_windows: np.ndarray  # (D + 1,) int64 cumulative window counts
    block: int
    gap: int
    train_blocks: np.ndarray  # int64 block ids, in the seeded order
    val_blocks: np.ndarray  # int64 block ids, in the seeded order (empty: no validation)
    source: str
    test_blocks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # train.test_split
    eval_every: int = 1  # validation and test take every eval_every-th window (train.eval_stride)

    @property
    def count(self) -> int:
        return int(self.doc_windows[-1])

    @property
    def n_blocks(self) -> int:
        return -(-self.count // self.block)

    def starts(self, index: np.ndarray) -> np.ndarray:
        """Start token of each window index (int64)."""
        index = np.asarray(index, np.int64)
        if self.doc_offsets.size == 1:
            return np.asarray(self.doc_offsets[0] + index * self.stride, np.int64)
        d = np.searchsorted(self.doc_windows[1:], index, side="right")
        return np.asarray(self.doc_offsets[d] + (index - self.doc_windows[d]) * self.stride, np.int64)

    def window_tokens(self, index: np.ndarray) -> np.ndarray:
        """(len(index), length) token ids of the given windows."""
        starts = self.starts(index)
        out: np.ndarray = self.ids[starts[:, None] + np.arange(self.length)]
        return out

    def window(self, i: int) -> np.ndarray:
        return self.window_tokens(np.array([i]))[0]  # type: ignore[no-any-return]

    def ranges(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi) window ranges of the training, validation or test blocks, in their seeded
        order; training ranges are trimmed by `gap` next to held-out blocks; empty ranges dropped."""
        blocks = {"train": self.train_blocks, "val": self.val_blocks, "test": self.test_blocks}[part]
        lo = blocks * self.block
        hi = np.minimum(lo + self.block, self.count)
        # Training gives up its windows next to validation or test blocks, and validation its
        # windows next to test blocks: the test split shares no token with either.
        away = {"train": (self.val_blocks, self.test_blocks), "val": (self.test_blocks,), "test": ()}[part]
        if self.gap and any(a.size for a in away):
            held = np.zeros(self.n_blocks + 2, bool)
            for a in away:
                held[a + 1] = True  # shifted by one: block -1 and n_blocks are False
            lo = lo + np.where(held[blocks], self.gap, 0)  # block b - 1 is held out
            hi = hi - np.where(held[blocks + 2], self.gap, 0)  # block b + 1 is held out
        keep = hi > lo
        return lo[keep].astype(np.int64), hi[keep].astype(np.int64)

    def size(self, part: str) -> int:
        lo, hi = self.ranges(part)
        return int((hi - lo).sum())

    def eval_ranges(self, part: str) -> tuple[np.ndarray, np.ndarray, int]:
        """(lo, hi, every): the validation or test windows are lo, lo + every, … < hi of each
        range, so held-out windows do not overlap by default (see train.eval_stride).

        One grid for every held-out window of a document: windows every `every` from the
        document's first, kept where they lie in the part. Adjacent blocks of a part are one
        range (sorted, merged, then cut at document ends), so no two held-out windows overlap at
        a block boundary (a grid restarting at each block predicted some tokens twice there).
        """
        lo, hi = self.ranges(part)
        every = self.eval_every
        if lo.size == 0:
            return lo, hi, every
        order = np.argsort(lo, kind="stable")
        lo, hi = lo[order], hi[order]
        # Merge ranges that touch, then cut them at document boundaries.
        starts = np.concatenate([[True], lo[1:] > hi[:-1]])
        mlo = lo[starts]
        mhi = np.maximum.reduceat(hi, np.flatnonzero(starts))
        cuts = self.doc_windows[1:-1]
        pieces_lo, pieces_hi = [], []
        for a, b in zip(mlo.tolist(), mhi.tolist(), strict=True):
            inner = cuts[(cuts > a) & (cuts < b)].tolist()
            edges = [a, *inner, b]
            pieces_lo += edges[:-1]
            pieces_hi += edges[1:]
        plo = np.asarray(pieces_lo, np.int64)
        phi = np.asarray(pieces_hi, np.int64)
        doc_first = self.doc_windows[np.searchsorted(self.doc_windows[1:], plo, side="right")]
        plo = plo + (-(plo - doc_first)) % every  # the first window on the document's grid
        keep = phi > plo
        return plo[keep], phi[keep], every

    def eval_index(self, part: str) -> np.ndarray:
        """Every window index evaluated for a held-out part, in order (int64)."""
        lo, hi, every = self.eval_ranges(part)
        if lo.size == 0:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(a, b, every, dtype=np.int64) for a, b in zip(lo, hi, strict=True)])


def make_windows(cfg: Config, corpus: Corpus, validation_split: float | None = None) -> Windows:
    """Cut a corpus into windows and split off validation blocks by seed.

    Inline sequences are one window each (sequence_length tokens, as given). Files give
    sliding windows of sequence_length + 1 tokens, data.stride apart, never across a
    document (a JSON line); a document shorter than one window gives none.
    """
    split = cfg.train.validation_split if validation_split is None else validation_split
    inline = corpus.key == "data.sequences"
    length = cfg.sequence_length if inline else cfg.sequence_length + 1
    stride = length if inline else cfg.data.stride
    if length < 2:
        raise UsageError("sequence_length: expected at least 2 tokens to predict a next one, got 1")
    per_doc = np.where(corpus.doc_lengths >= length, (corpus.doc_lengths - length) // stride + 1, 0)
    has = per_doc > 0
    if not has.any():
        longest = int(corpus.doc_lengths.max()) if corpus.doc_lengths.size else 0
        if corpus.key == "data.sequences_file":
            raise UsageError(
                f"{corpus.source}: expected a line of at least {length} tokens (sequence_length + 1) "
                f"for one training window, got lines of at most {longest} tokens"
            )
        raise UsageError(
            f"{corpus.source}: expected at least {length} tokens (sequence_length + 1) for one "
            f"training window, got {longest}"
        )
    offsets = corpus.doc_offsets[has]
    cum = np.concatenate([[0], np.cumsum(per_doc[has])]).astype(np.int64)
    count = int(cum[-1])
    if inline:
        # Today's semantics: sequences never overlap, each is its own block.
        block, gap = 1, 0
    else:
        gap = (length - 1) // stride  # windows i < j share a token when j - i <= gap
        block = max(8 * (gap + 1), -(-count // MAX_BLOCKS))
    n_blocks = -(-count // block)
    test = cfg.train.test_split if validation_split is None else 0.0
    train, val, held = _split_blocks(n_blocks, split, cfg.seed, inline, count, block, test)
    every = 1
    if not inline:
        eval_stride = cfg.train.eval_stride
        if eval_stride is None:  # non-overlapping: the first window at least sequence_length on
            every = -(-cfg.sequence_length // stride)
        elif eval_stride % stride:
            raise UsageError(
                f"train.eval_stride: expected a multiple of data.stride ({stride}), got {eval_stride}"
            )
        else:
            every = eval_stride // stride
    return Windows(
        corpus.ids, length, stride, offsets, cum, block, gap, train, val, corpus.source, held, every
    )


def _split_blocks(
    n_blocks: int, split: float, seed: int, inline: bool, count: int, block: int, test: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) block ids. The seeded permutation gives validation its first
    blocks and test the next ones, so a test split leaves validation as it was without one."""
    none = np.zeros(0, np.int64)
    if split <= 0 and test <= 0:
        return np.arange(n_blocks, dtype=np.int64), none, none
    n_val = int(round(n_blocks * split)) if split > 0 else 0
    n_test = int(round(n_blocks * test)) if test > 0 else 0
    if test > 0 and (n_test < 1 or n_val + n_test >= n_blocks):
        what = "sequence" if inline else "block of windows"
        raise UsageError(
            f"train.test_split: expected a split leaving at least one {what} on each side, got "
            f"{test} of {n_blocks} {what.split()[0]}s"
            + ("" if inline else f" ({count} windows, {block} a block)")
        )
    if split > 0 and (n_val < 1 or n_val >= n_blocks):
        if inline:
            raise UsageError(
                f"train.validation_split: expected a split leaving at least one sequence on each "
                f"side, got {split} of {n_blocks} sequences"
            )
        raise UsageError(
            f"train.validation_split: expected a split leaving at least one block of windows on "
            f"each side, got {split} of {n_blocks} blocks ({count} windows, {block} a block)"
        )
    order = np.random.default_rng(seed).permutation(n_blocks).astype(np.int64)
    return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]


def load_windows(cfg: Config) -> tuple[Config, Windows]:
    """Everything a next-token run needs from the data, read and checked before TensorFlow is
    imported (`lstmcli.tasks.of(cfg).load` picks this for task: next_token).

    Returns the config with its vocabulary resolved (write that one to the run directory) and
    the windows with their validation split.
    """
    cfg = resolve_vocab(cfg)
    return cfg, make_windows(cfg, read_corpus(cfg))


def config_sequences(cfg: Config, limit: int = 3) -> list[np.ndarray]:
    """The sequences `inspect CONFIG` shows: every inline sequence, or the inputs of the first
    `limit` windows of a data file (sequence_length tokens each); next-token runs only
    (`lstmcli.tasks.of(cfg).sequences` picks the task's own)."""
    if cfg.data.sequences:
        vocab = vocab_of(cfg)
        return [vocab.ids(cfg.inline_tokens(s), where="data.sequences") for s in cfg.data.sequences]
    windows = make_windows(cfg, read_corpus(cfg), validation_split=0.0)
    return [windows.window(i)[:-1].astype(np.int32) for i in range(min(limit, windows.count))]
