"""Data sources, vocab: auto, windows, the validation split, compact ids, and bad input (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import HELLO, ROOT, invoke
from lstmcli import config, data
from lstmcli.config import Config, VocabOptions
from lstmcli.data import sources
from lstmcli.errors import UsageError


# Every window of the data as arrays: small data only (lstmcli never builds these; training
# gathers windows per batch in lstmcli.training.pipeline).
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
    Training itself uses `load_windows` and lstmcli.training.pipeline, which never build these arrays.
    """
    cfg, windows = data.load_windows(cfg)
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


def _cfg(tmp_path: Path, body: dict, name: str = "c.yaml") -> Config:
    """Write a config beside the data files of the test and load it (paths resolve there)."""
    p = tmp_path / name
    p.write_text(yaml.safe_dump(body))
    return config.load(p)


def _merge(body: dict, over: dict) -> dict:
    for k, v in over.items():
        if isinstance(v, dict):
            body.setdefault(k, {}).update(v)
        else:
            body[k] = v
    return body


def _text_cfg(tmp_path: Path, text: str | bytes, **over) -> Config:
    f = tmp_path / "corpus.txt"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    body = {"vocab": "auto", "sequence_length": 3, "data": {"text_file": "corpus.txt"}}
    return _cfg(tmp_path, _merge(body, over))


def _jsonl_cfg(tmp_path: Path, lines: list[str], **over) -> Config:
    (tmp_path / "seqs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    body = {"vocab": "auto", "sequence_length": 2, "data": {"sequences_file": "seqs.jsonl"}}
    return _cfg(tmp_path, _merge(body, over))


def _texts(cfg: Config, w: data.Windows, index) -> list[str]:
    sep = data.joiner(cfg)
    return [sep.join(cfg.vocab[int(i)] for i in row) for row in w.window_tokens(np.asarray(index))]


# ---------------------------------------------------------------- sources


def test_text_file_chars_give_sliding_windows(tmp_path) -> None:
    cfg, w = data.load_windows(_text_cfg(tmp_path, "abcabcabd", data={"stride": 2}))
    assert cfg.vocab == ["a", "b", "c", "d"]  # a, b: 3 each; c: 2; d: 1
    assert w.length == 4 and w.count == (9 - 4) // 2 + 1
    assert _texts(cfg, w, range(w.count)) == ["abca", "cabc", "bcab"]


def test_text_file_words_split_on_any_whitespace(tmp_path) -> None:
    cfg, w = data.load_windows(
        _text_cfg(tmp_path, "the cat\tsat\n\non  the mat\r\n", data={"tokens": "word"}, sequence_length=2)
    )
    assert cfg.vocab == ["the", "cat", "sat", "on", "mat"]
    assert _texts(cfg, w, range(w.count)) == ["the cat sat", "cat sat on", "sat on the", "on the mat"]


def test_text_file_newlines_and_bom_as_python_text_mode(tmp_path) -> None:
    cfg, w = data.load_windows(_text_cfg(tmp_path, "\ufeffab\r\nab\rab\n".encode()))
    assert "\r" not in cfg.vocab and "\ufeff" not in cfg.vocab
    assert data.joiner(cfg).join(cfg.vocab[i] for i in w.ids) == "ab\nab\nab\n"


def test_sequences_file_lines_are_documents(tmp_path) -> None:
    lines = ['"abcd"', "", '["x", "yy", "x"]', '"ab"', '  ["x", "yy", "x", "yy"]  ']
    cfg, w = data.load_windows(_jsonl_cfg(tmp_path, lines))
    texts = [" ".join(cfg.vocab[int(i)] for i in row) for row in w.window_tokens(np.arange(w.count))]
    # windows of 3 tokens never cross a line; "ab" (2 tokens) gives none; blank lines are skipped
    assert texts == ["a b c", "b c d", "x yy x", "x yy x", "yy x yy"]


def test_sequences_file_strings_split_as_data_tokens_says(tmp_path) -> None:
    cfg, w = data.load_windows(_jsonl_cfg(tmp_path, ['"to be or not"'], data={"tokens": "word"}))
    assert cfg.vocab == ["to", "be", "or", "not"] and w.count == 2


def test_inline_sequences_keep_their_semantics() -> None:
    cfg = config.load(HELLO)
    td = training_data(cfg)
    seqs = np.stack(data.config_sequences(cfg))
    np.testing.assert_array_equal(td.inputs, seqs[:, :-1])
    np.testing.assert_array_equal(td.targets, seqs[:, 1:])
    assert td.inputs.dtype == np.int32 and td.val_inputs is None
    _, w = data.load_windows(cfg)
    assert (w.length, w.count, w.block, w.gap) == (5, 3, 1, 0)


def test_inline_validation_split_is_the_old_permutation() -> None:
    seqs = ["hello", "eolll", "lleel", "hhell", "ollle", "lloel", "eeloh", "heloo"]
    cfg = Config.model_validate(
        {
            "vocab": list("helo"),
            "sequence_length": 5,
            "seed": 3,
            "data": {"sequences": seqs},
            "train": {"validation_split": 0.25},
        }
    )
    td = training_data(cfg)
    order = np.random.default_rng(3).permutation(len(seqs))
    ids = np.stack(data.config_sequences(cfg))
    np.testing.assert_array_equal(td.inputs, ids[order[2:], :-1])
    np.testing.assert_array_equal(td.val_targets, ids[order[:2], 1:])


def test_chunked_reading_gives_the_same_ids(tmp_path, monkeypatch) -> None:
    # multi-byte characters and \r\n land across chunk boundaries at every offset
    text = "héllo wörld, ünïcode ✓ 𝄞\r\n" * 40 + "end"
    cfg = _text_cfg(tmp_path, text)
    whole_cfg, whole = data.load_windows(cfg)
    wcfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"tokens": "word"})})
    whole_words = data.load_windows(wcfg)[1].ids
    for size in (1, 2, 3, 7, 64):
        monkeypatch.setattr(sources, "CHUNK_BYTES", size)
        got_cfg, got = data.load_windows(cfg)
        assert got_cfg.vocab == whole_cfg.vocab
        np.testing.assert_array_equal(got.ids, whole.ids)
        np.testing.assert_array_equal(data.load_windows(wcfg)[1].ids, whole_words)


# ---------------------------------------------------------------- vocab: auto


def test_build_vocab_orders_by_count_then_first_appearance() -> None:
    counted = [("c", 2), ("a", 5), ("b", 2), ("d", 1), ("e", 5)]
    opts = VocabOptions()
    assert data.build_vocab(counted, opts) == ["a", "e", "c", "b", "d"]
    assert data.build_vocab(counted, VocabOptions(min_count=2)) == ["a", "e", "c", "b"]
    assert data.build_vocab(counted, VocabOptions(max_size=3)) == ["a", "e", "c"]
    # a stand-in token for unknowns always joins, counting toward max_size
    assert data.build_vocab(counted, VocabOptions(max_size=3), "<unk>") == ["a", "e", "<unk>"]
    assert data.build_vocab(counted, VocabOptions(max_size=3), "e") == ["a", "e", "c"]
    assert data.build_vocab(counted, VocabOptions(max_size=3), "d") == ["a", "e", "d"]
    assert data.build_vocab(counted, opts, "<unk>")[-1] == "<unk>"


def test_vocab_auto_is_deterministic_and_shaped_by_options(tmp_path) -> None:
    text = "the cat and the dog and the bird saw a cat"
    base = _text_cfg(tmp_path, text, data={"tokens": "word"})
    first = data.resolve_vocab(base).vocab
    assert first == data.resolve_vocab(base).vocab == ["the", "cat", "and", "dog", "bird", "saw", "a"]
    cfg = _text_cfg(tmp_path, text, data={"tokens": "word"}, vocab_options={"min_count": 2})
    assert data.resolve_vocab(cfg).vocab == ["the", "cat", "and"]
    cfg = _text_cfg(tmp_path, text, data={"tokens": "word"}, vocab_options={"max_size": 2})
    assert data.resolve_vocab(cfg).vocab == ["the", "cat"]


def test_resolved_config_round_trips_through_a_run_directory(tmp_path) -> None:
    cfg = data.resolve_vocab(
        _text_cfg(tmp_path, "a b\n'\"c:\t#-\\ \u2028é\n", vocab_options={"min_count": 1})
    )
    assert isinstance(cfg.vocab, list) and cfg.vocab_options == VocabOptions()
    p = tmp_path / "run.yaml"
    p.write_text(config.dump_yaml(cfg), encoding="utf-8")
    again = config.load(p)
    assert again.vocab == cfg.vocab and again.digest() == cfg.digest()


def test_vocab_options_need_vocab_auto(runner, tmp_path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("vocab: [a, b]\nvocab_options: {max_size: 5}\nsequence_length: 2\ndata: {sequences: [ab]}\n")
    result = invoke(runner, "config", "validate", p)
    assert result.exit_code == 2
    assert "vocab_options: expected the defaults with a vocab list" in result.stderr
    p.write_text("vocab: automatic\nsequence_length: 2\ndata: {sequences: [ab]}\n")
    result = invoke(runner, "config", "validate", p)
    assert "vocab: expected a list of tokens or auto, got string 'automatic'" in result.stderr


def test_inline_sequences_with_vocab_auto(tmp_path) -> None:
    body = {"vocab": "auto", "sequence_length": 5, "data": {"sequences": ["hello", "eolll", "lleel"]}}
    cfg = data.resolve_vocab(Config.model_validate(body))
    assert cfg.vocab == ["l", "e", "o", "h"]
    body["vocab_options"] = {"max_size": 3}
    with pytest.raises(UsageError, match="'h' is left out"):
        data.resolve_vocab(Config.model_validate(body))


# ---------------------------------------------------------------- unknown tokens


@pytest.mark.parametrize(
    ("unknown", "expected"),
    [("skip", ["ab", "b", "ab"]), ("a", ["ab", "ab", "ab"])],
)
def test_unknown_skip_or_stand_in(tmp_path, unknown, expected) -> None:
    cfg = _text_cfg(tmp_path, "ab\nxb\nab\n", vocab=["a", "b", "\n"], data={"unknown": unknown})
    cfg, w = data.load_windows(cfg)
    assert "".join(cfg.vocab[i] for i in w.ids).split("\n")[:-1] == expected


def test_unknown_error_names_file_and_line(tmp_path) -> None:
    cfg = _text_cfg(tmp_path, "ab\nab\naxb\n", vocab=["a", "b", "\n"])
    with pytest.raises(UsageError, match=r"corpus.txt: line 3: .*got 'x'.*data.unknown is error"):
        data.load_windows(cfg)
    cfg = _text_cfg(tmp_path, "a b\nb a\nb zz a", vocab=["a", "b"], data={"tokens": "word"})
    with pytest.raises(UsageError, match=r"corpus.txt: line 3: .*got 'zz'"):
        data.load_windows(cfg)
    cfg = _jsonl_cfg(tmp_path, ['"ab"', '["a", "q"]'], vocab=["a", "b"])
    with pytest.raises(UsageError, match=r"seqs.jsonl: line 2: position 1: .*got 'q'"):
        data.load_windows(cfg)


def test_vocab_auto_with_a_stand_in_token(tmp_path) -> None:
    cfg = _jsonl_cfg(
        tmp_path,
        ['"a b a b c"', '"a b a b"'],
        data={"tokens": "word", "unknown": "<unk>"},
        vocab_options={"min_count": 2},
    )
    cfg, w = data.load_windows(cfg)
    assert cfg.vocab == ["a", "b", "<unk>"]
    assert [cfg.vocab[i] for i in w.ids[:5]] == ["a", "b", "a", "b", "<unk>"]


# ---------------------------------------------------------------- windows, split, dtype


@pytest.mark.parametrize(("n", "length", "stride"), [(100, 4, 1), (100, 4, 3), (101, 11, 10), (11, 11, 5)])
def test_window_counts_and_starts(tmp_path, n, length, stride) -> None:
    text = "".join("ab"[(i * 7 // 3) % 2] for i in range(n))
    cfg = _text_cfg(tmp_path, text, sequence_length=length - 1, data={"stride": stride})
    cfg, w = data.load_windows(cfg)
    assert w.count == (n - length) // stride + 1
    np.testing.assert_array_equal(w.starts(np.arange(w.count)), np.arange(w.count) * stride)
    assert _texts(cfg, w, [w.count - 1])[0] == text[(w.count - 1) * stride :][:length]


def test_nothing_is_stored_per_window(tmp_path) -> None:
    cfg = _text_cfg(tmp_path, "abcd" * 250_000, sequence_length=63)  # 1 M tokens, stride 1
    cfg, w = data.load_windows(cfg)
    assert w.ids.dtype == np.uint8 and w.ids.nbytes == 1_000_000
    assert w.doc_offsets.size == 1 and w.doc_windows.size == 2
    assert w.train_blocks.size == w.n_blocks <= w.count // 512 + 1


def _token_sets(w: data.Windows, part: str) -> set[int]:
    lo, hi = w.ranges(part)
    starts = w.starts(np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)]))
    return {int(s) + k for s in starts for k in range(w.length)}


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_validation_split_is_seeded_and_shares_no_token(tmp_path, stride) -> None:
    text = "".join("abc"[(i * i) % 3] for i in range(3000))
    cfg = _text_cfg(
        tmp_path, text, sequence_length=9, data={"stride": stride}, train={"validation_split": 0.2}
    )
    _, w = data.load_windows(cfg)
    _, again = data.load_windows(cfg)
    np.testing.assert_array_equal(w.val_blocks, again.val_blocks)
    assert w.val_blocks.size == round(w.n_blocks * 0.2)
    assert not set(w.val_blocks) & set(w.train_blocks)
    assert set(w.val_blocks) | set(w.train_blocks) == set(range(w.n_blocks))
    assert not _token_sets(w, "train") & _token_sets(w, "val")  # no leak through overlaps
    assert w.size("val") == sum(min((b + 1) * w.block, w.count) - b * w.block for b in w.val_blocks)
    # only the windows next to validation blocks are given up
    assert w.size("train") >= w.count - w.size("val") - 2 * w.gap * w.val_blocks.size
    other = data.make_windows(cfg.model_copy(update={"seed": 1}), data.read_corpus(data.resolve_vocab(cfg)))
    assert set(other.val_blocks) != set(w.val_blocks)


def test_validation_split_too_small_for_the_blocks(tmp_path) -> None:
    cfg = _text_cfg(tmp_path, "abab" * 5, train={"validation_split": 0.3})  # 17 windows: 1 block
    with pytest.raises(UsageError, match="at least one block of windows on each side"):
        data.load_windows(cfg)


def test_smallest_id_dtype() -> None:
    assert [data.id_dtype(n) for n in (2, 256, 257, 65536, 65537)] == [
        np.uint8,
        np.uint8,
        np.uint16,
        np.uint16,
        np.uint32,
    ]


def test_corpus_dtype_follows_the_vocabulary(tmp_path) -> None:
    text = "".join(chr(0x4E00 + i) for i in range(300)) * 2
    cfg, w = data.load_windows(_text_cfg(tmp_path, text))
    assert len(cfg.vocab) == 300 and w.ids.dtype == np.uint16
    assert w.ids.ctypes.data % data.ALIGN == 0


# ---------------------------------------------------------------- bad input → exit 2, nothing written


TEXT = "data.text_file"
JSONL = "data.sequences_file"
BAD = [
    # (file name, bytes, data section, message fragment after the file's path)
    ("empty.txt", b"", {"text_file": "empty.txt"}, f": expected UTF-8 text ({TEXT}), got an empty file"),
    (
        "latin1.txt",
        b"caf\xe9 au lait",
        {"text_file": "latin1.txt"},
        f": expected UTF-8 text ({TEXT}), got byte 0xe9 at offset 3 (line 1)",
    ),
    (
        "short.txt",
        b"abcab",
        {"text_file": "short.txt"},
        ": expected at least 9 tokens (sequence_length + 1) for one training window, got 5",
    ),
    (
        "one.txt",
        b"aaaaaaaaaaaaaaaa",
        {"text_file": "one.txt"},
        ": expected at least 2 distinct tokens to build the vocabulary (vocab: auto), got 1: 'a'",
    ),
    (
        "bad.jsonl",
        b'"abcdefghij"\n{"a": 1\n',
        {"sequences_file": "bad.jsonl"},
        ": line 2: expected a JSON string or a list of strings, got invalid JSON",
    ),
    (
        "num.jsonl",
        b'"abcdefghij"\n\n42\n',
        {"sequences_file": "num.jsonl"},
        ": line 3: expected a JSON string or a list of strings, got number 42",
    ),
    (
        "mixed.jsonl",
        b'["a", "b", 3]\n',
        {"sequences_file": "mixed.jsonl"},
        ": line 1: expected a JSON string or a list of strings, got a list holding number 3 at index 2",
    ),
    (
        "lat.jsonl",
        b'"abcdefghij"\n"\xff"\n',
        {"sequences_file": "lat.jsonl"},
        f": line 2: expected UTF-8 text ({JSONL}), got byte 0xff at offset 14",
    ),
    (
        "shortlines.jsonl",
        b'"abc"\n"abcd"\n',
        {"sequences_file": "shortlines.jsonl"},
        ": expected a line of at least 9 tokens (sequence_length + 1) for one training window, "
        "got lines of at most 4 tokens",
    ),
    ("missing.txt", None, {"text_file": "missing.txt"}, f": no such data file ({TEXT})"),
]


@pytest.mark.parametrize(("name", "content", "section", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(runner, tmp_path, name, content, section, fragment):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"vocab": "auto", "sequence_length": 8, "data": section}))
    out = tmp_path / "run"
    result = invoke(runner, "train", p, "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert f"{tmp_path / name}{fragment}" in lines[0]  # the file is named by its path
    assert not out.exists()


def test_bad_data_fails_before_tensorflow_is_imported(tmp_path) -> None:
    (tmp_path / "x.jsonl").write_text('"abcdefgh"\n[1]\n')
    p = tmp_path / "c.yaml"
    p.write_text("vocab: auto\nsequence_length: 3\ndata: {sequences_file: x.jsonl}\n")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from lstmcli.cli import app\n"
        f"r = CliRunner().invoke(app, ['train', {str(p)!r}, '--out', {str(tmp_path / 'run')!r}])\n"
        "assert r.exit_code == 2 and 'line 2' in r.stderr, r.output\n"
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- example configs


def test_example_configs_validate_and_read(runner) -> None:
    paths = [ROOT / "configs" / "text.yaml", ROOT / "configs" / "jsonl.yaml"]
    result = invoke(runner, "config", "validate", *paths, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"]
    text_cfg, text = data.load_windows(config.load(paths[0]))
    assert text.count > 1000 and text.val_blocks.size and " " in text_cfg.vocab
    jsonl_cfg, jsonl = data.load_windows(config.load(paths[1]))
    assert jsonl_cfg.vocab[-1] == "<unk>" and jsonl.doc_offsets.size > 40


# ---------------------------------------------------------------- the tf.data pipeline


def test_pipeline_gives_the_old_batches_for_inline_sequences() -> None:
    import tensorflow as tf

    from lstmcli.training.pipeline import Datasets

    cfg = Config.model_validate(
        {
            "vocab": list("helo"),
            "sequence_length": 5,
            "seed": 4,
            "data": {"sequences": ["hello", "eolll", "lleel", "hhell", "ollle", "lloel", "eeloh"]},
            "train": {"batch_size": 2, "validation_split": 0.3},
        }
    )
    td = training_data(cfg)
    cfg, w = data.load_windows(cfg)
    d = Datasets(cfg, w)
    train, val, steps, val_steps, tokens = d.train(), d.val, d.steps, d.val_steps, d.tokens_per_epoch
    # lstmcli 0.1's _dataset
    old = tf.data.Dataset.from_tensor_slices((td.inputs, td.targets))
    old = old.shuffle(len(td.inputs), seed=4, reshuffle_each_iteration=True).batch(2).repeat()
    old = old.map(lambda x, y: (tf.one_hot(x, 4), y))
    for (x, y), (ox, oy) in zip(train.take(12), old.take(12), strict=True):
        np.testing.assert_array_equal(x.numpy(), ox.numpy())
        np.testing.assert_array_equal(y.numpy(), oy.numpy())
    assert (steps, val_steps, tokens) == (3, 1, 5 * 4)
    vx, vy = next(iter(val))
    np.testing.assert_array_equal(vy.numpy(), td.val_targets)


def test_pipeline_over_a_file(monkeypatch, tmp_path) -> None:
    from lstmcli.training import pipeline

    monkeypatch.setattr(pipeline, "SHUFFLE_BUFFER", 64)  # the block-shuffled path on a small file
    text = "".join("abcdefgh"[(i * i + i // 7) % 8] for i in range(4000))
    cfg = _text_cfg(
        tmp_path,
        text,
        sequence_length=7,
        data={"stride": 2},
        train={"batch_size": 16, "validation_split": 0.25},
    )
    cfg, w = data.load_windows(cfg)
    d = pipeline.Datasets(cfg, w)
    n_train = w.size("train")
    n_val = w.eval_index("val").size  # held-out windows do not overlap (issue 14)
    assert d.steps == -(-n_train // 16) and d.val_steps == -(-n_val // 16)
    assert d.tokens_per_epoch == n_train * 7
    lo, hi = w.ranges("train")
    train_windows = {tuple(w.window(i).tolist()) for a, b in zip(lo, hi, strict=True) for i in range(a, b)}
    seen: list[tuple[int, ...]] = []
    for x, y in d.train().take(3 * d.steps):
        assert x.shape[1:] == (7, len(cfg.vocab)) and x.dtype.name == "float32" and y.dtype.name == "int32"
        ids = np.argmax(x.numpy(), axis=-1)
        np.testing.assert_array_equal(ids[:, 1:], y.numpy()[:, :-1])
        seen += [(*row, last) for row, last in zip(ids.tolist(), y.numpy()[:, -1].tolist(), strict=True)]
    assert set(seen) <= train_windows  # never a validation window
    assert set(seen) == train_windows  # and every training window, pass after pass
    # a resumed run skips the batches it has done and sees the same batches after them
    a = [y.numpy() for _, y in d.train().skip(5).take(3)]
    b = [y.numpy() for _, y in d.train(skip_batches=5).take(3)]
    for ya, yb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ya, yb)
    vals = [y.numpy() for _, y in d.val.take(d.val_steps)]
    assert sum(len(v) for v in vals) == n_val
    want = w.window_tokens(w.eval_index("val"))[:, 1:]
    np.testing.assert_array_equal(np.concatenate(vals), want)


def test_train_on_a_text_file_records_the_vocabulary(runner, tmp_path) -> None:
    out = tmp_path / "run"
    result = invoke(
        runner, "train", ROOT / "configs" / "text.yaml", "--out", out, "--json",
        "--set", "train.epochs=1", "--set", "train.steps_per_epoch=3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert isinstance(saved["vocab"], list) and "\n" in saved["vocab"]
    pred = invoke(runner, "predict", out, "the keeper", "--json")
    assert pred.exit_code == 0, pred.output
