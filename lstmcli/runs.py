"""Run directories: written file by file atomically, read back with clear errors."""

from __future__ import annotations

import atexit
import csv
import errno
import fcntl
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
# The weights of model.keras as plain NumPy arrays, so `predict` need not import h5py; written
# by the first reader, used only while it matches model.keras (`model.kerasfile.read_cache`).
WEIGHTS_CACHE = "weights.npz"


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


def history_fields(validation: bool) -> list[str]:
    """history.csv's columns, in the order the training loop fills a row."""
    val = ["val_accuracy", "val_loss"] if validation else []
    return ["epoch", "accuracy", "loss", *val, "seconds", "tokens_per_second", "learning_rate"]


def _validates(run_dir: Path) -> bool:
    """Whether the run beside this history holds out a validation split (its config.yaml says)."""
    try:
        return config_mod.load(run_dir / CONFIG).train.validation_split > 0
    except (OSError, ConfigError):
        return False


def _cell(key: str, value: Any) -> Any:
    # The learning rate lives in the optimizer as a float32: the shortest decimal that reads
    # back as that float32 (0.01), not its float64 expansion (0.009999999776482582).
    if key == "learning_rate" and isinstance(value, float):
        import numpy as np

        return np.format_float_positional(np.float32(value), unique=True, trim="-")
    return value


def write_history(final: Path, rows: list[dict[str, float]], run_dir: Path | None = None) -> None:
    """history.csv: a header from the start (a run stopped in its first epoch has one), then a
    row per completed epoch. `run_dir` holds the config that decides the header's columns; it is
    not `final`'s folder while a checkpoint set is written aside (`RunDir.write_set`)."""
    buf = io.StringIO()
    fields = list(rows[0]) if rows else history_fields(_validates(run_dir or final.parent))
    for r in rows[1:]:
        fields += [k for k in r if k not in fields]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows({k: _cell(k, v) for k, v in row.items()} for row in rows)
    write_text(final, buf.getvalue())


def default_run_dir(config_path: Path, root: Path = Path("runs")) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{config_path.stem}-{stamp}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


CHECKPOINT = "checkpoint.json"
BEST = "best.keras"

# Files lstmcli writes into a run directory (and the temporary names they are written under):
# `--force` replaces a folder holding only these, never anything else.
RUN_FILES = frozenset(
    {MODEL, CONFIG, HISTORY, METRICS, RUN, CHECKPOINT, BEST, WEIGHTS_CACHE, "confusion.json", "tensorboard"}
)


ModelSaver = Callable[[Path], None]
"""Writes a model to the path it is given (Keras's `model.save`)."""

SetWriter = Callable[[Path], None]
"""Writes one file of a set (`RunDir.write_set`) to the path it is given."""

# A checkpoint's files while they are written, and once complete (`RunDir.write_set`); hidden
# `.*.tmp` names, which `--force` and the foreign-file check know as lstmcli's own.
PENDING_SET = ".checkpoint.pending.tmp"
COMMITTED_SET = ".checkpoint.commit.tmp"
DELETE_PREFIX = ".delete."


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class RunDir:
    """A run directory as training writes it. The training loop speaks in events (a checkpoint,
    the best model so far, the end) and this object knows the files, their order and their
    atomic writes."""

    path: Path

    def checkpoint(self, save: ModelSaver, history: list[dict[str, float]], state: dict[str, Any]) -> None:
        """Model (with the optimizer's state), history and state, as one unit: a crash at any
        moment leaves the previous checkpoint or this one, never a mix (`write_set`)."""
        self.write_set(
            {
                MODEL: save,
                HISTORY: lambda p: write_history(p, history, self.path),
                CHECKPOINT: lambda p: write_json(p, state),
            }
        )

    def save_best(self, save: ModelSaver) -> None:
        """The best model so far (early stopping), kept beside the checkpoint."""
        write_with(self.path / BEST, save, suffix=".keras")

    def mark_model_best(self) -> None:
        """model.keras is the best model so far (a finished early-stopped run being extended)."""
        with atomic_path(self.path / BEST) as tmp:
            shutil.copyfile(self.path / MODEL, tmp)

    def results(self, files: dict[str, SetWriter | None]) -> None:
        """The end of training as one unit: the kept model, history, the JSON result files
        (metrics.json, run.json, …) and the finished state (`write_set`)."""
        self.write_set(files)

    def write_set(self, files: dict[str, SetWriter | None]) -> None:
        """Write `files` into the run directory as one unit: after a crash at any moment the
        directory holds all of the new files or none of them (with `recover`).

        Each file's writer fills a path in a fresh hidden folder, one file of a set each; the
        folder's rename is the commit; then each file is renamed into its usual place, the state
        last. `recover` (at the start of training and of the next set) finishes the renames of a
        committed set and drops an uncommitted one. The files stay where users' scripts read
        them, and a reader between two renames of one set sees whole files, each old or new. A
        `None` writer removes that file with the set (best.keras once it became model.keras).
        """
        self.recover()
        pending = self.path / PENDING_SET
        pending.mkdir()
        try:
            for name, writer in files.items():
                if writer is None:
                    (pending / (DELETE_PREFIX + name)).touch()
                    continue
                try:
                    writer(pending / name)
                    _fsync(pending / name)
                except OSError as e:  # named as the user knows the file
                    raise OSError(e.errno, e.strerror, str(self.path / name)) from None
            _fsync(pending)
        except BaseException:
            shutil.rmtree(pending, ignore_errors=True)
            raise
        os.replace(pending, self.path / COMMITTED_SET)  # the commit: from here on, the new set
        _fsync(self.path)
        self.recover()

    def recover(self) -> None:
        """Finish a committed set's renames; drop a set whose writing never finished."""
        shutil.rmtree(self.path / PENDING_SET, ignore_errors=True)
        committed = self.path / COMMITTED_SET
        if not committed.is_dir():
            return
        for name in sorted(os.listdir(committed), key=lambda n: n == CHECKPOINT):  # state last
            if name.startswith(DELETE_PREFIX):
                (self.path / name.removeprefix(DELETE_PREFIX)).unlink(missing_ok=True)
                (committed / name).unlink()
            else:
                os.replace(committed / name, self.path / name)
        _fsync(self.path)
        committed.rmdir()

    def write_config(self, text: str) -> None:
        write_text(self.path / CONFIG, text)

    def read_state(self) -> dict[str, Any]:
        return read_json_file(self.path / CHECKPOINT)


def _foreign(path: Path) -> list[str]:
    """Names in `path` that lstmcli does not write into a run directory."""
    return sorted(
        e.name
        for e in path.iterdir()
        if e.name not in RUN_FILES and not (e.name.startswith(".") and e.name.endswith(".tmp"))
    )


def check_out_path(path: Path) -> None:
    """`--out` must name a new folder of its own: not `.`, `..`, `/` or the folder we stand in."""
    try:
        resolved = path.resolve()
        here = Path.cwd().resolve()
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from None
    if path.name in ("", ".", "..") or resolved == here or resolved in here.parents:
        raise UsageError(
            f"{path}: expected a new folder for the run, got the current directory or one above it; "
            "choose a name, e.g. --out runs/NAME"
        )
    # The nearest folder that exists must be a folder we may write in (missing ones are made).
    anc = resolved.parent
    while not anc.exists() and not anc.is_symlink() and anc != anc.parent:
        anc = anc.parent
    for above in [anc, *anc.parents]:
        if above.exists() and not above.is_dir():
            raise UsageError(f"{above}: expected a folder (on the way to {path}), got a file")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise UsageError(f"{anc}: permission denied: cannot create {path} in it")


def check_run_dir_free(path: Path, force: bool) -> None:
    """A non-empty directory is never overwritten unless forced, and `--force` replaces only a run
    directory (or an empty folder): a folder holding anything else is left alone (exit 2).

    Called once early, to fail before the data are read, and again by `training.create_run_dir`
    while it holds the run's lock, where the answer is final.
    """
    check_out_path(path)
    try:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path}: expected a run directory, got a file")
        if not path.is_dir() or not any(path.iterdir()):
            return
        if not force:
            raise UsageError(
                f"{path}: directory exists and is not empty; choose another --out or pass --force"
            )
        foreign = _foreign(path)
        if not is_run_dir(path) or foreign:
            what = f"it holds {', '.join(map(repr, foreign[:3]))}" + (" …" if len(foreign) > 3 else "")
            if not foreign:
                what = f"it has no {CONFIG} and {MODEL}"
            raise UsageError(
                f"{path}: --force replaces only a run directory lstmcli made, and {what}; "
                "left untouched: remove it yourself or choose another --out"
            )
    except OSError as e:
        raise UsageError(f"{e.filename or path}: {e.strerror or e}") from None


# ---------------------------------------------------------------- one owner per run directory


class RunLockedError(UsageError):
    """Another process holds the run directory's lock (exit 2)."""


@dataclass
class RunLock:
    """An exclusive `flock` on `PARENT/.NAME.lock`, the lock file of run directory `PARENT/NAME`.

    Why a sibling file, not a file inside the run directory: the run directory is built in a
    temporary sibling and renamed into place, and `--force` swaps one directory for another, so
    a lock inside it would change identity in the middle of the very operations it guards. The
    sibling's name never moves; every process creating, training, resuming or replacing NAME
    locks it first, and only then asks whether NAME is free. The OS drops the lock when the
    process dies, however it dies, so a crash leaves no stale lock (at worst a stale file,
    which the next owner simply locks). The file holds the owner's pid, for the message.
    """

    run_dir: Path
    path: Path
    fd: int

    def release(self) -> None:
        if self.fd < 0:
            return
        # Unlink while still holding the lock: a process that opened the old file meanwhile
        # notices (its inode is no longer the path's) and starts over, see `claim`.
        try:
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1
        _HELD.pop(_lock_file(self.run_dir), None)


_HELD: dict[Path, RunLock] = {}


def _lock_file(run_dir: Path) -> Path:
    # The parent resolved (symlinks, ..), so two spellings of one run share one lock.
    parent = run_dir.parent.resolve()
    return parent / f".{run_dir.name}.lock"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "pid unknown"


def claim(run_dir: Path, *, attempts: int = 5) -> RunLock:
    """Take the exclusive lock of `run_dir` for the rest of the process (or until released).

    Re-entrant within a process; a lock held by another process is a `RunLockedError` naming
    its pid. A few short retries cover `lstmcli runs` probing the lock at that very moment.
    The parent folder must exist.
    """
    key = _lock_file(run_dir)
    if key in _HELD:
        return _HELD[key]
    for attempt in range(attempts):
        try:
            fd = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise UsageError(f"{run_dir}: cannot lock it ({key}: {e.strerror or e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            if attempt + 1 < attempts:
                time.sleep(0.05)
                continue
            raise _locked(run_dir, holder) from None
        try:
            same = os.stat(key).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous owner released (and unlinked) it meanwhile: lock the new file
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        lock = _HELD[key] = RunLock(run_dir, key, fd)
        return lock
    raise RunLockedError(f"{run_dir}: is locked by another lstmcli process (pid unknown)")


def _locked(run_dir: Path, holder: str) -> RunLockedError:
    return RunLockedError(
        f"{run_dir}: is locked by another lstmcli process ({holder}); "
        "wait for it to finish or stop it (a killed process releases the lock)"
    )


def check_unlocked(run_dir: Path) -> None:
    """Fail early (before reading data) when another process holds the run; `claim` decides."""
    pid = lock_holder(run_dir)
    if pid is not None and pid != os.getpid():
        raise _locked(run_dir, f"pid {pid}" if pid > 0 else "pid unknown")


def release_all() -> None:
    """Release every run lock this process holds (the end of a command)."""
    for lock in list(_HELD.values()):
        lock.release()


atexit.register(release_all)


def lock_holder(run_dir: Path) -> int | None:
    """The pid holding `run_dir`'s lock (this process's own included), or None when it is free."""
    key = _lock_file(run_dir)
    if key in _HELD:
        return os.getpid()
    try:
        fd = os.open(key, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = _holder(fd).removeprefix("pid ")
        return int(text) if text.isdigit() else -1
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EINVAL):
            return None
        raise
    finally:
        os.close(fd)  # closing drops a shared lock we took
    return None


def _umask_dir(path: Path) -> None:
    os.chmod(path, 0o777 & ~_umask())  # mkdtemp makes 0700; a run directory is ordinary output


def make_run_dir(out: Path, force: bool, fill: Callable[[Path], None]) -> None:
    """Create (or, forced, replace) run directory `out`: lock it, check it is free, let
    `fill(tmp)` write its first files into a temporary sibling, rename that into place.

    The lock is kept afterwards (training goes on under it; `release_all` or the process's end
    drops it). An OS failure (permission, a full or read-only disk, a path through a file) is a
    usage error naming the path; the temporary sibling is removed, `out` is as it was.
    """
    import shutil

    check_out_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{e.filename or out.parent}: {e.strerror or e}") from None
    claim(out)
    check_run_dir_free(out, force)  # the final answer: no one else can change it now
    tmp: Path | None = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        _umask_dir(tmp)
        fill(tmp)
        if out.exists():
            trash = out.with_name(f".{out.name}.old")
            shutil.rmtree(trash, ignore_errors=True)
            os.replace(out, trash)
            try:
                os.replace(tmp, out)
            except OSError:
                os.replace(trash, out)  # put the old run back
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except OSError as e:
        raise UsageError(f"{e.filename or out}: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Run:
    """A trained run directory, read back."""

    path: Path
    config: Config

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def weights_cache(self) -> Path:
        return self.path / WEIGHTS_CACHE

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
    running_pid: int | None = None  # the pid training it now (it holds the run's lock)
    state: dict[str, Any] = field(default_factory=dict)  # checkpoint.json: epochs done, …

    @property
    def running(self) -> bool:
        return self.running_pid is not None


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
        running_pid=lock_holder(path),
        state=read_json_file(path / CHECKPOINT),
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


@dataclass
class KeyDiff:
    """One config key of two runs (by dotted key)."""

    key: str
    a: Any
    b: Any

    @property
    def differs(self) -> bool:
        return bool(self.a != self.b)


@dataclass
class MetricDiff:
    """One metric of two runs; `delta` is b - a when both are numbers."""

    name: str
    a: float | None
    b: float | None
    delta: float | None


@dataclass
class Comparison:
    a: Path
    b: Path
    config: list[KeyDiff]
    metrics: list[MetricDiff]


def compare(a: Path, b: Path) -> Comparison:
    """Configs and metrics of two runs side by side, with what differs."""
    for p in (a, b):
        if not is_run_dir(p):
            raise RunDirError(
                f"{p}: not a run directory (expected {CONFIG} and {MODEL} inside)"
                if p.is_dir()
                else f"{p}: no such run directory"
            )
    ra, rb = summarize(a), summarize(b)
    config = [
        KeyDiff(key, ra.config.get(key), rb.config.get(key))
        for key in sorted(set(ra.config) | set(rb.config))
    ]
    metrics = []
    for name in sorted(set(ra.metrics) | set(rb.metrics)):
        ma, mb = ra.metrics.get(name), rb.metrics.get(name)
        delta = mb - ma if isinstance(ma, (int, float)) and isinstance(mb, (int, float)) else None
        metrics.append(MetricDiff(name, ma, mb, delta))
    return Comparison(a, b, config, metrics)
