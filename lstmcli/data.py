"""Tokens ↔ ids ↔ one-hot; the data sources a config names; sliding windows over them (NumPy only).

Three sources: inline `data.sequences`, a UTF-8 `data.text_file` and a JSON Lines
`data.sequences_file`. Token ids are kept in the smallest unsigned dtype that fits the
vocabulary; windows are never materialised: window i's start is arithmetic, and the validation
split keeps only block ids. lstmcli.pipeline turns this into tf.data pipelines.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from lstmcli.config import Config, VocabOptions, kind_of
from lstmcli.errors import UsageError
from lstmcli.tokens import tokenize

CHUNK_BYTES = 1 << 20
"""Text files are read and mapped to ids this many bytes at a time (a 1 MiB chunk costs ~30 MB
of temporaries at most, whatever the file's size)."""

MAX_BLOCKS = 1 << 20
"""At most this many blocks of windows: the block ids of a pass fit in 8 MB."""

ALIGN = 64
"""TensorFlow's tensor alignment: id arrays start on it so the pipeline can share them."""

_UNICODE = 0x110000


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
                        f"{where}: expected tokens from the vocabulary {self.shown()}, "
                        f"got {t!r} at position {pos}"
                    )
            out.append(i)
        return np.asarray(out, dtype=np.int32)

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        """One-hot float32 of any id array: shape ids.shape + (size,)."""
        return np.eye(self.size, dtype=np.float32)[ids]

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


def config_sequences(cfg: Config, limit: int = 3) -> list[np.ndarray]:
    """The sequences `inspect CONFIG` shows: every inline sequence, or the inputs of the first
    `limit` windows of a data file (sequence_length tokens each)."""
    if cfg.data.sequences:
        vocab = vocab_of(cfg)
        return [vocab.ids(cfg.sequence_tokens(s), where="data.sequences") for s in cfg.data.sequences]
    windows = make_windows(cfg, read_corpus(cfg), validation_split=0.0)
    return [windows.window(i)[:-1].astype(np.int32) for i in range(min(limit, windows.count))]


@dataclass
class TrainingData:
    """Next-token pairs: inputs[n, t] is followed by targets[n, t]."""

    inputs: np.ndarray  # (N, T) int32
    targets: np.ndarray  # (N, T) int32
    val_inputs: np.ndarray | None = None
    val_targets: np.ndarray | None = None


def training_data(cfg: Config) -> TrainingData:
    """Every window of the data as arrays (small data: tests, inline sequences).

    Inline sequences of sequence_length tokens give sequence_length - 1 next-token pairs each.
    Training itself uses `load_windows` and lstmcli.pipeline, which never build these arrays.
    """
    cfg, windows = load_windows(cfg)
    lo, hi = windows.ranges("train")
    tr = _window_ids(lo, hi)
    every = windows.window_tokens(tr).astype(np.int32)
    out = TrainingData(every[:, :-1], every[:, 1:])
    if windows.val_blocks.size:
        val = windows.window_tokens(windows.eval_index("val")).astype(np.int32)
        out.val_inputs, out.val_targets = val[:, :-1], val[:, 1:]
    return out


def _window_ids(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    if lo.size == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(lo, hi, strict=True)])


# ---------------------------------------------------------------- reading the sources


def _source(cfg: Config) -> tuple[str, Path | None]:
    d = cfg.data
    if d.text_file is not None:
        return "data.text_file", d.text_file
    if d.sequences_file is not None:
        return "data.sequences_file", d.sequences_file
    return "data.sequences", None


def _open_data(path: Path, key: str) -> BinaryIO:
    """Open a data file for binary reading; a missing, empty or unreadable file is a usage error."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such data file ({key})") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: expected a data file ({key}), got a directory") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read the data file ({key}): {e.strerror}") from None
    if path.is_file() and path.stat().st_size == 0:
        f.close()
        raise UsageError(f"{path}: expected UTF-8 text ({key}), got an empty file")
    return f


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _text_chunks(path: Path, key: str) -> Iterator[tuple[int, str]]:
    """(line number of the first character, text) of a UTF-8 file, `CHUNK_BYTES` at a time.

    Newlines are read as Python's text mode reads them (`\\r\\n` and `\\r` become `\\n`) and a
    leading byte-order mark is dropped. A byte that is not UTF-8 is a usage error naming its
    offset.
    """
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    decoder = io.IncrementalNewlineDecoder(utf8, translate=True)
    line, offset, first = 1, 0, True
    with _open_data(path, key) as f:
        while True:
            raw = f.read(CHUNK_BYTES)
            pending = len(utf8.getstate()[0])  # bytes of a character cut by the last chunk
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as e:
                at = offset - pending + e.start
                where = line + e.object[: e.start].count(b"\n")
                raise UsageError(
                    f"{path}: expected UTF-8 text ({key}), got byte 0x{e.object[e.start]:02x} "
                    f"at offset {at} (line {where})"
                ) from None
            offset += len(raw)
            if first and text:
                text = text.removeprefix("\ufeff")
                first = False
            if text:
                yield line, text
                line += text.count("\n")
            if not raw:
                return


def _word_chunks(path: Path, key: str) -> Iterator[tuple[int, str]]:
    """Like `_text_chunks`, but every chunk ends on whitespace, so no word is cut in two."""
    carry, carry_line = "", 1
    for line, text in _text_chunks(path, key):
        if carry:
            text, line = carry + text, carry_line
        cut = len(text)
        while cut > 0 and not text[cut - 1].isspace():
            cut -= 1
        head, carry = text[:cut], text[cut:]
        carry_line = line + head.count("\n")
        if head:
            yield line, head
    if carry:
        yield carry_line, carry


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def _json_kind(value: Any) -> str:
    return kind_of(value, json=True)


def _jsonl_docs(cfg: Config, path: Path, key: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, tokens) of each non-blank line of a JSON Lines file."""
    expected = "expected a JSON string or a list of strings"
    seen = False
    with _open_data(path, key) as f:
        offset = 0
        for n, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise UsageError(
                    f"{path}: line {n}: expected UTF-8 text ({key}), got byte "
                    f"0x{raw[e.start]:02x} at offset {offset + e.start}"
                ) from None
            offset += len(raw)
            if n == 1:
                text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            seen = True
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise UsageError(
                    f"{path}: line {n}: {expected}, got invalid JSON: {e.msg} (column {e.colno})"
                ) from None
            if isinstance(value, str):
                yield n, tokenize(value, cfg.data.tokens)
            elif isinstance(value, list):
                for i, t in enumerate(value):
                    if not isinstance(t, str):
                        raise UsageError(
                            f"{path}: line {n}: {expected}, got a list holding {_json_kind(t)} at index {i}"
                        )
                    if t == "":
                        raise UsageError(f"{path}: line {n}: {expected}, got an empty token '' at index {i}")
                yield n, value
            else:
                raise UsageError(f"{path}: line {n}: {expected}, got {_json_kind(value)}")
    if not seen:
        raise UsageError(f"{path}: expected JSON Lines ({key}), got only blank lines")


def _inline_docs(cfg: Config) -> Iterator[tuple[int, list[str]]]:
    for n, seq in enumerate(cfg.data.sequences or []):
        yield n, cfg.sequence_tokens(seq)


# ---------------------------------------------------------------- vocab: auto


def count_tokens(cfg: Config) -> list[tuple[str, int]]:
    """Every distinct token of the training data with its count, in order of first appearance."""
    key, path = _source(cfg)
    if path is None:
        counts: Counter[str] = Counter()
        for _, toks in _inline_docs(cfg):
            counts.update(toks)
        return list(counts.items())
    if key == "data.sequences_file":
        counts = Counter()
        for _, toks in _jsonl_docs(cfg, path, key):
            counts.update(toks)
        return list(counts.items())
    if cfg.data.tokens == "word":
        counts = Counter()
        for _, text in _word_chunks(path, key):
            counts.update(tokenize(text, "word"))
        return list(counts.items())
    # Characters: count code points with NumPy; a Counter over 100 M characters takes seconds.
    total = np.zeros(_UNICODE, np.int64)
    first = np.full(_UNICODE, -1, np.int64)
    pos = 0
    for _, text in _text_chunks(path, key):
        cps = _codepoints(text)
        here = np.bincount(cps)
        new = np.flatnonzero((here > 0) & (total[: here.size] == 0))
        if new.size:  # first positions of the characters new in this chunk
            uniq, where = np.unique(cps, return_index=True)
            fresh = first[uniq] < 0
            first[uniq[fresh]] = pos + where[fresh]
        total[: here.size] += here
        pos += cps.size
    seen = np.flatnonzero(total)
    seen = seen[np.argsort(first[seen], kind="stable")]
    return [(chr(int(c)), int(total[c])) for c in seen]


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


def resolve_vocab(cfg: Config) -> Config:
    """The config with `vocab: auto` replaced by the token list built from its training data
    (see `build_vocab` for the order); a config with a vocab list comes back unchanged.

    The result is what a run directory records, so predict and inspect rebuild the same
    one-hot index without the data. Its vocab_options are back to the defaults: they shaped
    the list and apply to `vocab: auto` only.
    """
    if not cfg.vocab_is_auto:
        return cfg
    key, path = _source(cfg)
    where = str(path) if path is not None else key
    counted = count_tokens(cfg)
    opts = cfg.vocab_options
    tokens = build_vocab(counted, opts, cfg.data.unknown)
    if len(tokens) < 2:
        shaped = ""
        if opts != VocabOptions.defaults():
            shaped = f" after vocab_options (max_size {opts.max_size}, min_count {opts.min_count})"
        got = ", ".join(repr(t) for t in tokens) or "none"
        raise UsageError(
            f"{where}: expected at least 2 distinct tokens to build the vocabulary (vocab: auto), "
            f"got {len(tokens)}{shaped}: {got}"
        )
    if path is None:
        kept = set(tokens)
        dropped = [t for t, _ in counted if t not in kept]
        if dropped:
            raise UsageError(
                f"vocab_options: expected a vocabulary holding every token of the inline "
                f"data.sequences ({len(counted)} distinct), got {len(tokens)}: {dropped[0]!r} is left out"
            )
    data = cfg.to_dict()
    data["vocab"] = tokens
    data["vocab_options"] = VocabOptions.defaults().model_dump()
    return Config.model_validate(data)


# ---------------------------------------------------------------- tokens → ids


@dataclass(frozen=True)
class Corpus:
    """The training data as token ids: every document back to back."""

    ids: np.ndarray  # (tokens,) uint8 / uint16 / uint32, aligned to ALIGN bytes
    doc_offsets: np.ndarray  # (D,) int64: first token of each document
    doc_lengths: np.ndarray  # (D,) int64
    source: str  # the file (or data.sequences), for messages
    key: str  # the config key of the source


def aligned_empty(n: int, dtype: Any) -> np.ndarray:
    """An uninitialised 1-D array whose data starts on an ALIGN-byte boundary.

    Pages never written are never resident, so an upper bound on the length costs nothing.
    """
    dt = np.dtype(dtype)
    raw = np.empty(n * dt.itemsize + ALIGN, np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start : start + n * dt.itemsize].view(dt)


def _unknown_error(where: str, vocab: Vocab, token: str) -> UsageError:
    return UsageError(
        f"{where}: expected tokens from the vocabulary {vocab.shown()}, got {token!r} "
        "(data.unknown is error: set it to skip, or to a vocabulary token used instead)"
    )


def _stand_in(cfg: Config, vocab: Vocab) -> int:
    """The id that replaces a token outside the vocabulary, or -1 (error, skip)."""
    unknown = cfg.data.unknown
    return -1 if unknown in ("error", "skip") else vocab.index()[unknown]


def read_corpus(cfg: Config) -> Corpus:
    """Read the config's data into token ids (the config's vocab must be a list: see
    `resolve_vocab`). Text is streamed and mapped to ids a chunk at a time: the only full-size
    array is the ids, one byte a token for up to 256 tokens."""
    vocab = vocab_of(cfg)
    dtype = id_dtype(vocab.size)
    key, path = _source(cfg)
    if path is None:
        seqs = [vocab.ids(toks, where="data.sequences") for _, toks in _inline_docs(cfg)]
        ids = aligned_empty(sum(s.size for s in seqs), dtype)
        ids[:] = np.concatenate(seqs) if seqs else []
        lengths = np.array([s.size for s in seqs], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return Corpus(ids, offsets, lengths, key, key)
    if key == "data.sequences_file":
        return _read_jsonl(cfg, vocab, dtype, path, key)
    if cfg.data.tokens == "word":
        return _read_words(cfg, vocab, dtype, path, key)
    return _read_chars(cfg, vocab, dtype, path, key)


def _one_document(ids: np.ndarray, n: int, path: Path, key: str) -> Corpus:
    if n == 0:
        raise UsageError(f"{path}: expected at least one token ({key}), got none")
    return Corpus(ids[:n], np.zeros(1, np.int64), np.array([n], np.int64), str(path), key)


def _read_chars(cfg: Config, vocab: Vocab, dtype: Any, path: Path, key: str) -> Corpus:
    lut = np.full(_UNICODE, -1, np.int32)
    for i, t in enumerate(vocab.tokens):
        if len(t) == 1:
            lut[ord(t)] = i
    unknown = cfg.data.unknown
    if unknown not in ("error", "skip"):
        lut[lut < 0] = _stand_in(cfg, vocab)
    out = aligned_empty(_file_size(path), dtype)  # characters <= bytes
    n = 0
    for line, text in _text_chunks(path, key):
        mapped = lut[_codepoints(text)]
        missing = mapped < 0
        if missing.any():
            if unknown == "error":
                k = int(np.argmax(missing))
                where = f"{path}: line {line + text.count(chr(10), 0, k)}"
                raise _unknown_error(where, vocab, text[k])
            mapped = mapped[~missing]
        out[n : n + mapped.size] = mapped
        n += mapped.size
    return _one_document(out, n, path, key)


def _read_words(cfg: Config, vocab: Vocab, dtype: Any, path: Path, key: str) -> Corpus:
    index = vocab.index()
    unknown = cfg.data.unknown
    stand_in = _stand_in(cfg, vocab)
    out = aligned_empty(_file_size(path) // 2 + 1, dtype)  # a word and a space are >= 2 bytes
    n = 0
    for line, text in _word_chunks(path, key):
        words = tokenize(text, "word")
        mapped = np.fromiter((index.get(w, stand_in) for w in words), np.int64, count=len(words))
        missing = mapped < 0
        if missing.any():
            if unknown == "error":
                k = int(np.argmax(missing))
                at = next(m for i, m in enumerate(re.finditer(r"\S+", text)) if i == k).start()
                raise _unknown_error(f"{path}: line {line + text.count(chr(10), 0, at)}", vocab, words[k])
            mapped = mapped[~missing]
        out[n : n + mapped.size] = mapped
        n += mapped.size
    return _one_document(out, n, path, key)


def _read_jsonl(cfg: Config, vocab: Vocab, dtype: Any, path: Path, key: str) -> Corpus:
    index = vocab.index()
    unknown = cfg.data.unknown
    stand_in = _stand_in(cfg, vocab)
    out = aligned_empty(_file_size(path), dtype)  # every token takes at least one byte
    offsets = array("q")  # 8 bytes a line, not a Python int each
    n = 0
    for line, toks in _jsonl_docs(cfg, path, key):
        mapped = [index.get(t, stand_in) for t in toks]
        if stand_in < 0 and -1 in mapped:
            if unknown == "error":
                k = mapped.index(-1)
                raise _unknown_error(f"{path}: line {line}: position {k}", vocab, toks[k])
            mapped = [i for i in mapped if i >= 0]
        offsets.append(n)
        out[n : n + len(mapped)] = mapped
        n += len(mapped)
    starts = np.frombuffer(offsets, np.int64) if offsets else np.zeros(0, np.int64)
    lengths = np.diff(np.append(starts, n))
    return Corpus(out[:n], starts, lengths, str(path), key)


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
            return self.doc_offsets[0] + index * self.stride
        d = np.searchsorted(self.doc_windows[1:], index, side="right")
        return self.doc_offsets[d] + (index - self.doc_windows[d]) * self.stride

    def window_tokens(self, index: np.ndarray) -> np.ndarray:
        """(len(index), length) token ids of the given windows."""
        starts = self.starts(index)
        return self.ids[starts[:, None] + np.arange(self.length)]

    def window(self, i: int) -> np.ndarray:
        return self.window_tokens(np.array([i]))[0]

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
        range, so held-out windows do not overlap by default (see train.eval_stride)."""
        lo, hi = self.ranges(part)
        return lo, hi, self.eval_every

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
    """Everything training needs from the data, read and checked before TensorFlow is imported.

    Returns the config with its vocabulary resolved (write that one to the run directory) and
    the windows with their validation split.
    """
    cfg = resolve_vocab(cfg)
    return cfg, make_windows(cfg, read_corpus(cfg))
