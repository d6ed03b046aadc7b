"""The data a config names, as one import: `lstmcli.data` re-exports the public names of its three
modules — `vocab` (tokens ↔ ids ↔ one-hot), `sources` (the files read into ids) and `windows`
(sliding windows and the seeded splits). All NumPy, no TensorFlow; lstmcli.training.pipeline turns the
windows into tf.data pipelines."""

from __future__ import annotations

from lstmcli.data.files import open_data
from lstmcli.data.sources import (
    ALIGN,
    CHUNK_BYTES,
    Corpus,
    aligned_empty,
    codepoints,
    count_tokens,
    read_corpus,
    resolve_vocab,
)
from lstmcli.data.vocab import (
    Vocab,
    build_vocab,
    encode_texts,
    id_dtype,
    joiner,
    stand_in_id,
    unknown_error,
    vocab_of,
)
from lstmcli.data.windows import (
    MAX_BLOCKS,
    Windows,
    config_sequences,
    load_windows,
    make_windows,
)

__all__ = [
    "ALIGN",
    "CHUNK_BYTES",
    "MAX_BLOCKS",
    "Corpus",
    "Vocab",
    "Windows",
    "aligned_empty",
    "build_vocab",
    "codepoints",
    "config_sequences",
    "count_tokens",
    "encode_texts",
    "id_dtype",
    "joiner",
    "load_windows",
    "make_windows",
    "open_data",
    "read_corpus",
    "resolve_vocab",
    "stand_in_id",
    "unknown_error",
    "vocab_of",
]
