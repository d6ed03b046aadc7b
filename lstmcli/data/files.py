"""Opening data files and reading JSON Lines: the file-level readers shared by the data sources
(`data.sources`) and the tasks (`tasks.classify`), kept below both so neither imports the other
for them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lstmcli.errors import UsageError


def open_data(path: Path, key: str) -> BinaryIO:
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


def json_lines(path: Path, key: str, expected: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line of a JSON Lines file: UTF-8 (a leading
    byte-order mark dropped), one JSON value a line; a bad byte, invalid JSON or a file of only
    blank lines is a usage error naming the file and line (`expected` says what a line holds)."""
    seen = False
    with open_data(path, key) as f:
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
                    f"{path}: line {n}: expected {expected}, got invalid JSON: {e.msg} (column {e.colno})"
                ) from None
            yield n, value
    if not seen:
        raise UsageError(f"{path}: expected JSON Lines ({key}), got only blank lines")
