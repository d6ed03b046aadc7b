"""Run directories: written file by file atomically, read back with clear errors."""

from __future__ import annotations

import csv
import io
import json
import os
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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def check_run_dir_free(path: Path, force: bool) -> None:
    """A non-empty directory is never overwritten unless forced (exit 2)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: expected a run directory, got a file")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise UsageError(f"{path}: directory exists and is not empty; choose another --out or pass --force")


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
        return read_history(self.path)


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """history.csv as rows of numbers (empty when there is none yet)."""
    p = run_dir / HISTORY
    if not p.exists():
        return []
    try:
        with p.open(encoding="utf-8", newline="") as f:
            return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    except ValueError as e:
        raise RunDirError(f"{p}: expected numbers, got {e}") from None


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


def read_json_file(p: Path) -> dict[str, Any]:
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as e:
        raise RunDirError(f"{p}: expected JSON, got invalid JSON: {e}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{p}: expected a JSON object, got {type(data).__name__}")
    return data


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config → {"model.units": 2, ...}; lists stay values."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


@dataclass
class RunSummary:
    name: str
    path: Path
    started: str | None
    config: dict[str, Any]
    metrics: dict[str, float]
    record: dict[str, Any]


def summarize(path: Path) -> RunSummary:
    run = open_run(path)
    record = read_json_file(path / RUN)
    return RunSummary(
        name=path.name,
        path=path,
        started=record.get("started"),
        config=flatten(run.config.to_dict()),
        metrics=run.metrics(),
        record=record,
    )


def list_runs(root: Path) -> list[RunSummary]:
    """Every complete run directory directly under `root` (or `root` itself), oldest first."""
    if not root.exists():
        raise UsageError(f"{root}: no such directory")
    if not root.is_dir():
        raise UsageError(f"{root}: expected a directory of runs, got a file")
    candidates = [root] if is_run_dir(root) else sorted(p for p in root.iterdir() if is_run_dir(p))
    found = []
    for p in candidates:
        try:
            found.append(summarize(p))
        except RunDirError:
            continue  # an unreadable run is skipped in a listing; `compare` names the problem
    return sorted(found, key=lambda r: (r.started or "", r.name))


def compare(a: Path, b: Path) -> dict[str, Any]:
    """Configs and metrics of two runs side by side, with what differs."""
    for p in (a, b):
        if not is_run_dir(p):
            raise RunDirError(
                f"{p}: not a run directory (expected {CONFIG} and {MODEL} inside)"
                if p.is_dir()
                else f"{p}: no such run directory"
            )
    ra, rb = summarize(a), summarize(b)
    config = []
    for key in sorted(set(ra.config) | set(rb.config)):
        va, vb = ra.config.get(key), rb.config.get(key)
        config.append({"key": key, "a": va, "b": vb, "differs": va != vb})
    metrics = []
    for name in sorted(set(ra.metrics) | set(rb.metrics)):
        ma, mb = ra.metrics.get(name), rb.metrics.get(name)
        delta = mb - ma if isinstance(ma, (int, float)) and isinstance(mb, (int, float)) else None
        metrics.append({"name": name, "a": ma, "b": mb, "delta": delta})
    return {"a": str(a), "b": str(b), "config": config, "metrics": metrics}
