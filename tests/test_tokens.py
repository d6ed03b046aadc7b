"""One tokenizer for configs, data readers, predict and inspect (issue 12's bug)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import invoke
from lstmcli import config, data
from lstmcli.errors import UsageError
from lstmcli.tokens import tokenize


def _unk_cfg(tmp_path: Path) -> Path:
    # A character config whose vocabulary holds a multi-character stand-in: the README's own
    # recipe for tolerating unknown characters.
    (tmp_path / "corpus.txt").write_text("abbaabab\n" * 20, encoding="utf-8")
    body = {
        "vocab": ["a", "b", "\n", "<unk>"],
        "sequence_length": 4,
        "data": {"text_file": "corpus.txt", "unknown": "<unk>"},
        "model": {"units": 4},
        "train": {"epochs": 1, "batch_size": 8},
    }
    p = tmp_path / "unk.yaml"
    p.write_text(yaml.safe_dump(body), encoding="utf-8")
    return p


def test_char_vocab_with_unk_reads_characters_everywhere(runner, tmp_path) -> None:
    cfg_path = _unk_cfg(tmp_path)
    cfg = config.load(cfg_path)
    # The data reader, input texts and inline-style sequences agree: characters.
    assert [cfg.vocab[i] for i in data.encode_texts(cfg, ["abba"])[0]] == ["a", "b", "b", "a"]
    assert cfg.sequence_tokens("abba") == ["a", "b", "b", "a"]
    corpus = data.read_corpus(cfg)
    assert [cfg.vocab[i] for i in corpus.ids[:5]] == ["a", "b", "b", "a", "a"]
    # An unknown character becomes the stand-in, not the whole text.
    assert [cfg.vocab[i] for i in data.encode_texts(cfg, ["axb"])[0]] == ["a", "<unk>", "b"]

    inspected = invoke(runner, "inspect", cfg_path, "--input", "abba", "--json")
    assert inspected.exit_code == 0, inspected.output
    shown = json.loads(inspected.stdout)
    assert shown["inputs"] == [["a", "b", "b", "a"]]
    assert np.asarray(shown["x"]).shape == (1, 4, 4)  # four characters, four one-hot rows

    run = tmp_path / "run"
    trained = invoke(runner, "train", cfg_path, "--out", run, "--json")
    assert trained.exit_code == 0, trained.output
    predicted = invoke(runner, "predict", run, "abba", "--json")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["results"][0]["tokens"] == ["a", "b", "b", "a"]


def test_words_read_as_characters_get_a_hint(tmp_path) -> None:
    cfg = config.validate(
        {
            "vocab": ["the", "cat", "sat"],
            "sequence_length": 3,
            "data": {"sequences": [["the", "cat", "sat"]]},
        },
        "c.yaml",
    )
    with pytest.raises(UsageError) as e:
        data.encode_texts(cfg, ["the cat"])
    assert "set data.tokens: word" in e.value.message


@given(st.text(max_size=40))
def test_numpy_char_reader_agrees_with_the_tokenizer(text: str) -> None:
    # lstmcli.data maps characters to ids by code point; it must split exactly as tokenize().
    cps = data.codepoints(text)
    assert [chr(int(c)) for c in cps] == tokenize(text, "char")


@given(st.text(max_size=40))
def test_word_mode_splits_on_any_whitespace(text: str) -> None:
    assert tokenize(text, "word") == text.split()
