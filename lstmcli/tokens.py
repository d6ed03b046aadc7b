"""The one tokenizer: how a text becomes tokens, for configs, data readers, predict and inspect."""

from __future__ import annotations

from typing import Literal

Mode = Literal["char", "word"]


def tokenize(text: str, mode: Mode | str) -> list[str]:
    """Split a text into tokens: one per character (`char`) or whitespace-separated (`word`).

    The vocabulary never changes how a text splits: a char-level vocabulary that holds a
    multi-character stand-in such as `<unk>` still reads characters (lstmcli 0.1 switched to
    whitespace there, so `predict RUN abba` ran on `['<unk>']`). Explicit multi-character tokens
    come from list-form sequences (`[<s>, a, b]`), which are never split.

    `lstmcli.data` maps character files straight to ids with NumPy, one token per code point:
    the same rule, vectorised (tests/test_data.py checks the two agree).
    """
    if mode == "word":
        return text.split()
    return list(text)
