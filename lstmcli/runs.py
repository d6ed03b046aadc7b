"""Run directories: written file by file atomically, read back with clear errors."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lstmcli import config as config_mod
from lstmcli.config import Config
from lstmcli.errors import ConfigError, RunDirError, UsageError

MODEL = "model.keras"
CONFIG = "config.yaml"
HISTORY = "history.csv"
METRICS = "metrics.json"
RUN = "run.json"


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success fsync and rename it into place.

    A reader never sees a half-written file: it sees the old file, the new one, or none.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(final: Path, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(final: Path, data: Any) -> None:
    write_text(final, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_with(final: Path, writer: Callable[[Path], None], suffix: str = "") -> None:
    """Atomically write a file produced by `writer(tmp_path)` (e.g. Keras's `model.save`)."""
    with atomic_path(final) as tmp:
        if suffix:
            # Keras insists on the extension; write to tmp.keras and move it over tmp.
            named = tmp.with_name(tmp.name + suffix)
            try:
                writer(named)
                os.replace(named, tmp)
            finally:
                if named.exists():
                    named.unlink()
        else:
            writer(tmp)


def write_history(final: Path, rows: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    if rows:
        fields = list(rows[0])
        for r in rows[1:]:
            fields += [k for k in r if k not in fields]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    write_text(final, buf.getvalue())


def default_run_dir(config_path: Path, root: Path = Path("runs")) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{config_path.stem}-{stamp}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def prepare_run_dir(path: Path, force: bool) -> None:
    """Refuse to overwrite a non-empty directory unless forced; then make it exist, empty."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: expected a run directory, got a file")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise UsageError(
                f"{path}: directory exists and is not empty; choose another --out or pass --force"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


@dataclass
class Run:
    """A trained run directory, read back."""

    path: Path
    config: Config

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    def metrics(self) -> dict[str, float]:
        p = self.path / METRICS
        if not p.exists():
            return {}
        try:
            return dict(json.loads(p.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as e:
            raise RunDirError(f"{p}: expected a JSON object of metrics, got invalid JSON: {e}") from None

    def history(self) -> list[dict[str, float]]:
        p = self.path / HISTORY
        if not p.exists():
            return []
        with p.open(encoding="utf-8", newline="") as f:
            return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG).is_file() and (path / MODEL).is_file()


def open_run(path: str | Path) -> Run:
    """Read a run directory's resolved config; errors name what is missing."""
    p = Path(path)
    if not p.exists():
        raise RunDirError(f"{p}: no such run directory")
    if not p.is_dir():
        raise RunDirError(f"{p}: expected a run directory, got a file")
    for name in (CONFIG, MODEL):
        if not (p / name).is_file():
            raise RunDirError(f"{p}: not a complete run directory: {name} is missing")
    try:
        cfg = config_mod.load(p / CONFIG)
    except ConfigError as e:
        raise RunDirError(e.message) from None
    return Run(p, cfg)
