"""The data sources a config names — inline `data.sequences`, a UTF-8 `data.text_file`, a JSON
Lines `data.sequences_file` — read in bounded chunks into token ids (NumPy only), and the token
counts `vocab: auto` is built from."""

from __future__ import annotations

import codecs
import io
import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config, VocabOptions, kind_of
from lstmcli.data.files import json_lines, open_data
from lstmcli.data.vocab import Vocab, build_vocab, id_dtype, stand_in_id, unknown_error, vocab_of
from lstmcli.errors import UsageError
from lstmcli.tokens import tokenize

CHUNK_BYTES = 1 << 20
"""Text files are read and mapped to ids this many bytes at a time (a 1 MiB chunk costs ~30 MB
of temporaries at most, whatever the file's size)."""

ALIGN = 64
"""TensorFlow's tensor alignment: id arrays start on it so the pipeline can share them."""

_UNICODE = 0x110000


# ---------------------------------------------------------------- reading the sources


def _source(cfg: Config) -> tuple[str, Path | None]:
    d = cfg.data
    if d.text_file is not None:
        return "data.text_file", d.text_file
    if d.sequences_file is not None:
        return "data.sequences_file", d.sequences_file
    return "data.sequences", None


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
    with open_data(path, key) as f:
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


def codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def _json_kind(value: Any) -> str:
    return kind_of(value, json=True)


def _jsonl_docs(cfg: Config, path: Path, key: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, tokens) of each non-blank line of a JSON Lines file."""
    expected = "expected a JSON string or a list of strings"
    for n, value in json_lines(path, key, "a JSON string or a list of strings"):
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


def _inline_docs(cfg: Config) -> Iterator[tuple[int, list[str]]]:
    for n, seq in enumerate(cfg.data.sequences or []):
        yield n, cfg.inline_tokens(seq)


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
        cps = codepoints(text)
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


def resolve_vocab(cfg: Config) -> Config:
    """The config with `vocab: auto` replaced by the token list built from its training data
    (see `build_vocab` for the order); a config with a vocab list comes back unchanged. For
    task: next_token (`lstmcli.tasks.of(cfg).resolve` picks the task's own).

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
        lut[lut < 0] = stand_in_id(cfg, vocab)
    out = aligned_empty(_file_size(path), dtype)  # characters <= bytes
    n = 0
    for line, text in _text_chunks(path, key):
        mapped = lut[codepoints(text)]
        missing = mapped < 0
        if missing.any():
            if unknown == "error":
                k = int(np.argmax(missing))
                where = f"{path}: line {line + text.count(chr(10), 0, k)}"
                raise unknown_error(where, vocab, text[k])
            mapped = mapped[~missing]
        out[n : n + mapped.size] = mapped
        n += mapped.size
    return _one_document(out, n, path, key)


def _read_words(cfg: Config, vocab: Vocab, dtype: Any, path: Path, key: str) -> Corpus:
    index = vocab.index()
    unknown = cfg.data.unknown
    stand_in = stand_in_id(cfg, vocab)
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
                raise unknown_error(f"{path}: line {line + text.count(chr(10), 0, at)}", vocab, words[k])
            mapped = mapped[~missing]
        out[n : n + mapped.size] = mapped
        n += mapped.size
    return _one_document(out, n, path, key)


def _read_jsonl(cfg: Config, vocab: Vocab, dtype: Any, path: Path, key: str) -> Corpus:
    index = vocab.index()
    unknown = cfg.data.unknown
    stand_in = stand_in_id(cfg, vocab)
    out = aligned_empty(_file_size(path), dtype)  # every token takes at least one byte
    offsets = array("q")  # 8 bytes a line, not a Python int each
    n = 0
    for line, toks in _jsonl_docs(cfg, path, key):
        mapped = [index.get(t, stand_in) for t in toks]
        if stand_in < 0 and -1 in mapped:
            if unknown == "error":
                k = mapped.index(-1)
                raise unknown_error(f"{path}: line {line}: position {k}", vocab, toks[k])
            mapped = [i for i in mapped if i >= 0]
        offsets.append(n)
        out[n : n + len(mapped)] = mapped
        n += len(mapped)
    starts = np.frombuffer(offsets, np.int64) if offsets else np.zeros(0, np.int64)
    lengths = np.diff(np.append(starts, n))
    return Corpus(out[:n], starts, lengths, str(path), key)
