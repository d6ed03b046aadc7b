"""A sweep's Optuna study in an RDB storage (SQLite, PostgreSQL, MySQL): the URL, creating or
joining the study and checking it is the same sweep, claiming one waiting trial atomically,
heartbeats, and the study read back as sweep points (sweep.json, `sweep --report`).

How the work is shared: whoever creates the study queues every trial up front as a WAITING
trial — a grid's points with their values, a search's `--trials` empty slots whose parameters
the sampler fills in when a worker takes one. Workers on any host pop WAITING trials the way
Optuna's own `Study.ask` does (a row-locked WAITING → RUNNING update), so a point is taken by
exactly one worker and the study never holds more trials than asked. A worker that dies stops
its heartbeat; `fail_stale_trials` marks its trial failed and Optuna's retry callback queues a
copy (same name, same values), which resumes the run directory's checkpoint where it is visible.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lstmcli.errors import UsageError
from lstmcli.experiments import sweep as sweep_mod
from lstmcli.experiments.sweep import Plan, Point

STUDY_DB = "study.db"
META = "lstmcli_sweep"  # the study's user attribute that records which sweep made it
HOST = socket.gethostname()
_SCHEMES = ("sqlite", "postgresql", "mysql")
# SQLAlchemy 2.1's default drivers: psycopg 3 for postgresql://, mysqlclient for mysql://.
_DRIVERS = {
    "postgresql": "'lstmcli[postgres]' (psycopg 3)",
    "mysql": "mysqlclient (or pymysql with mysql+pymysql://)",
}


def heartbeat_seconds() -> int:
    """How often a running trial tells the storage it is alive (LSTMCLI_SWEEP_HEARTBEAT, default
    10 s); a trial silent for 3 × that is taken for dead, failed and queued again."""
    raw = os.environ.get("LSTMCLI_SWEEP_HEARTBEAT", "10")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"LSTMCLI_SWEEP_HEARTBEAT: expected a whole number of seconds >= 1, got {raw!r}")
    return value


# ---------------------------------------------------------------- the URL


def default_url(out: Path) -> str:
    return f"sqlite:///{(out / STUDY_DB).resolve()}"


def check_url(url: str) -> str:
    """The URL itself, or a UsageError naming what is wrong with it (nothing is contacted)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    expected = "a database URL such as sqlite:///sweeps/study.db or postgresql://user@host:5432/db"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise UsageError(f"--storage {redact(url)}: expected {expected}, got a malformed URL") from None
    backend = parsed.get_backend_name()
    if backend not in _SCHEMES:
        raise UsageError(
            f"--storage {redact(url)}: expected {expected} (sqlite, postgresql or mysql), got {backend!r}"
        )
    if backend == "sqlite" and not parsed.database:
        raise UsageError(
            f"--storage {url}: expected a file (sqlite:///path/study.db), got an in-memory database"
        )
    if backend != "sqlite" and not parsed.database:
        raise UsageError(f"--storage {redact(url)}: expected a database name after the host, got none")
    return url


def redact(url: str) -> str:
    """The URL without its password (what sweep.json, tables and messages show)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _engine_kwargs(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": 60}}  # workers wait for each other's writes
    return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}  # no endless hang


@contextlib.contextmanager
def _optuna_quiet() -> Iterator[None]:
    """Optuna marks heartbeats and the retry callback experimental and says so on every call."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def connect(url: str) -> Any:
    """An RDBStorage with heartbeats and the retry callback, or one clear UsageError."""
    try:
        import optuna
    except ImportError:
        raise UsageError(
            "--storage and --workers need Optuna: pip install 'lstmcli[search]' "
            "('lstmcli[postgres]' for PostgreSQL)"
        ) from None
    from sqlalchemy.exc import SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    check_url(url)
    beat = heartbeat_seconds()
    last: Exception | None = None
    for _ in range(5):  # workers that meet a fresh database create its tables at the same moment
        try:
            with _optuna_quiet():
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_interval=beat,
                    grace_period=3 * beat,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=3
                    ),
                )
        except ImportError as e:  # Optuna's own ImportError around the driver's ModuleNotFoundError
            from sqlalchemy.engine import make_url

            missing = getattr(e.__cause__, "name", None) or e.name or "its driver"
            package = _DRIVERS.get(make_url(url).get_backend_name(), missing)
            raise UsageError(
                f"--storage {redact(url)}: expected an installed database driver, got none "
                f"({missing} missing): pip install {package}"
            ) from None
        except SQLAlchemyError as e:
            last = e
            if "OperationalError" in type(e).__name__ or "ArgumentError" in type(e).__name__:
                break
            time.sleep(0.5)
    first = str(getattr(last, "orig", None) or last).strip().splitlines()[0] if last else "unknown error"
    raise UsageError(f"--storage {redact(url)}: cannot reach the database: {first}")


def close(storage: Any) -> None:
    """Close the storage's connections now (a dropped pool leaves PostgreSQL connections open
    until garbage collection, and a long-lived process, or a test session, runs out of them)."""
    with contextlib.suppress(Exception):
        storage.remove_session()
        storage.engine.dispose()


# ---------------------------------------------------------------- creating or joining the study


def meta(plan: Plan) -> dict[str, Any]:
    """What makes two `sweep` commands the same sweep (checked when a second one joins)."""
    base = json.dumps(plan.base, sort_keys=True, default=str)
    return {
        "kind": plan.kind,
        "objective": asdict(plan.objective),
        "keys": plan.keys,
        "space": plan.space,
        "grid": [p.values for p in plan.points] if plan.kind == "grid" else None,
        "trials": plan.trials if plan.kind == "search" else len(plan.points),
        "seed": plan.seed,
        "config": plan.source,
        "base_sha256": hashlib.sha256(base.encode()).hexdigest(),
        "requires": plan.requires,
    }


_WHAT = {
    "kind": "kind of sweep (grid or search)",
    "objective": "objective (--objective)",
    "keys": "space file (--search) or grid (--set)",
    "space": "space file (--search)",
    "grid": "grid (--set KEY=V1,V2,…)",
    "trials": "number of trials (--trials)",
    "seed": "seed (--seed)",
    "base_sha256": "config (the CONFIG file or its fixed --set values)",
}


def check_same(where: str, name: str, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    for key, what in _WHAT.items():
        if ours.get(key) != theirs.get(key):
            show = key not in ("base_sha256",)
            detail = f": {_short(theirs.get(key))} there, {_short(ours.get(key))} here" if show else ""
            raise UsageError(
                f"{where}: study {name!r} was made by a different {what}{detail}; "
                "run the same command, or choose another --study"
            )


def _short(v: Any) -> str:
    text = json.dumps(v, separators=(",", ":"), default=str)
    return text if len(text) <= 80 else text[:77] + "…"


def open_study(plan: Plan, url: str, storage: Any | None = None) -> Any:
    """The plan's study: created (with every trial queued) by the first worker, joined and
    checked by the others."""
    import optuna
    from optuna.exceptions import DuplicatedStudyError
    from optuna.study import StudyDirection

    storage = storage or connect(url)
    name = plan.study or Path(plan.source).stem
    where = f"--storage {redact(url)}"
    ours = meta(plan)
    direction = StudyDirection.MINIMIZE if plan.objective.mode == "min" else StudyDirection.MAXIMIZE
    try:
        storage.create_new_study([direction], study_name=name)
        created = True
    except DuplicatedStudyError:
        created = False
    study = optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=plan.seed, constant_liar=True),
        pruner=sweep_mod.make_pruner(optuna),
    )
    if created:
        with _optuna_quiet():
            study.add_trials(_queue(optuna, plan))
        study.set_user_attr(META, ours)  # last: a joining worker waits for it, so the queue is full
        return study
    deadline = time.monotonic() + 60
    while META not in study.user_attrs:
        if time.monotonic() > deadline:
            raise UsageError(
                f"{where}: study {name!r} exists but no lstmcli sweep made it; choose another --study"
            )
        time.sleep(0.5)
    check_same(where, name, ours, study.user_attrs[META])
    return study


def _queue(optuna: Any, plan: Plan) -> list[Any]:
    """The trials a new study starts with: every grid point, or the search's slots (and, for a
    search sweep.json written before studies, its finished points and the one it was on)."""
    from optuna.trial import TrialState, create_trial

    if plan.kind == "grid":
        return [
            create_trial(state=TrialState.WAITING, user_attrs={"name": p.name, "values": p.values})
            for p in plan.points
        ]
    assert plan.space is not None  # search plans always carry their space
    dists = {k: sweep_mod.distribution(optuna, spec) for k, spec in plan.space.items()}
    done = [p for p in plan.points if p.status in sweep_mod.DONE]
    trials = []
    for p in plan.points:
        attrs = {"name": p.name, "values": p.values, "metrics": p.metrics, "epochs": p.epochs}
        if p.status in sweep_mod.DONE:
            frozen = sweep_mod.frozen(optuna, p, dists, plan.objective, plan.out)
            trials.append(create_trial(**{**_frozen_kwargs(frozen), "user_attrs": attrs}))
        else:  # the point it was on: queued again with its values, resumed from its checkpoint
            trials.append(
                create_trial(state=TrialState.WAITING, params=p.values, distributions=dists, user_attrs=attrs)
            )
    left = plan.trials - len(done) - (len(plan.points) - len(done))
    trials += [create_trial(state=TrialState.WAITING) for _ in range(max(0, left))]
    return trials


def _frozen_kwargs(t: Any) -> dict[str, Any]:
    return {
        "state": t.state,
        "value": t.value,
        "params": t.params,
        "distributions": t.distributions,
        "intermediate_values": t.intermediate_values,
    }


# ---------------------------------------------------------------- claiming and heartbeats


@contextlib.contextmanager
def serialised(url: str) -> Iterator[None]:
    """One claim at a time on a SQLite file. PostgreSQL and MySQL lock the trial's row (SELECT …
    FOR UPDATE) inside Optuna's WAITING → RUNNING update, so two workers never pop one trial;
    SQLite ignores FOR UPDATE and pysqlite reads outside the write transaction, so two processes
    could both see the same trial WAITING. SQLite is one machine's file, so a file lock beside it
    closes that gap (and likewise for failing stale trials, which queues their retries)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        yield
        return
    db = Path(str(parsed.database))
    lock = db.with_name(f".{db.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def claim(study: Any, url: str) -> int | None:
    """Pop one WAITING trial (its id), as `Study.ask` does, or None when none is left.

    Why not `Study.ask` itself: when no trial is waiting it creates a new one, so two workers
    racing for the last point would run one trial too many; here an empty queue means done.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    with serialised(url):
        for t in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,)):
            tid = storage.get_trial_id_from_study_id_trial_number(study._study_id, t.number)
            try:
                if storage.set_trial_state_values(tid, state=TrialState.RUNNING):
                    storage.record_heartbeat(tid)  # at once: a trial with no heartbeat never goes stale
                    return int(tid)
            except UpdateFinishedTrialError:
                continue
    return None


def fail_stale(study: Any, url: str) -> None:
    """Optuna's own `fail_stale_trials`: trials whose worker went silent become FAIL, and the
    retry callback queues each again. Before it, trials whose worker ran on this host and is
    gone: Optuna only knows heartbeats and would wait out the grace period, but a dead pid here
    is known at once (so `--resume` after a kill does not wait)."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    with serialised(url), _optuna_quiet():
        for t in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            pid = t.user_attrs.get("pid")
            if t.user_attrs.get("host") != HOST or not isinstance(pid, int) or _alive(pid):
                continue
            tid = storage.get_trial_id_from_study_id_trial_number(study._study_id, t.number)
            with contextlib.suppress(UpdateFinishedTrialError):
                if storage.set_trial_state_values(tid, state=TrialState.FAIL):
                    callback = storage.get_heartbeat_stale_trial_callback()
                    if callback is not None:
                        callback(study, storage.get_trial(tid))
        optuna.storages.fail_stale_trials(study)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class Heartbeat:
    """Record the trial's heartbeat every interval in a thread while it runs.

    Hand-written because Optuna's heartbeat thread is private to `Study.optimize`, which asks
    for trials with `Study.ask` (see `claim` for why lstmcli does not)."""

    def __init__(self, storage: Any, trial_id: int) -> None:
        self._storage, self._id = storage, trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="sweep-heartbeat")

    def _beat(self) -> None:
        interval = self._storage.get_heartbeat_interval() or 10
        while not self._stop.wait(interval):
            with contextlib.suppress(Exception):  # a lost connection: the next beat retries
                self._storage.record_heartbeat(self._id)

    def __enter__(self) -> Heartbeat:
        self._storage.record_heartbeat(self._id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def requeue(study: Any, trial: Any) -> None:
    """Queue a copy of a failed trial (same name and values): how an interrupted trial waits for
    `--resume`. Optuna's retry callback, called directly (no retry limit for interrupts)."""
    import optuna

    with _optuna_quiet():
        optuna.storages.RetryHeartbeatStaleTrialCallback()(study, trial)


# ---------------------------------------------------------------- the study as sweep points


def points(study: Any) -> list[Point]:
    """One point per trial name, in the order trials were queued; the last attempt decides."""
    from optuna.trial import TrialState

    groups: dict[str, list[Any]] = {}
    for t in study.get_trials(deepcopy=False):
        name = t.user_attrs.get("name")
        if name:
            groups.setdefault(name, []).append(t)
    out = []
    for name, attempts in groups.items():
        last = attempts[-1]
        attrs = last.user_attrs
        status = {
            TrialState.COMPLETE: "finished",
            TrialState.PRUNED: "pruned",
            TrialState.RUNNING: "running",
            TrialState.WAITING: "interrupted" if len(attempts) > 1 else "pending",
            TrialState.FAIL: "failed",
        }[last.state]
        error = attrs.get("error")
        if last.state == TrialState.FAIL and error is None:
            error = "its worker stopped (no heartbeat) and the retries ran out"
        out.append(
            Point(
                name=name,
                values=attrs.get("values", {}),
                status=status,
                metrics=attrs.get("metrics", {}),
                epochs=attrs.get("epochs", 0),
                trial=last.number,
                error=error if status == "failed" else None,
                host=attrs.get("host"),
                run_dir=attrs.get("run_dir"),
                attempts=[t.number for t in attempts],
            )
        )
    return out


def counts(study: Any) -> dict[str, int]:
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {s.name.lower(): states.count(s) for s in TrialState}


def study_names(url: str) -> list[str]:
    import optuna

    return [s.study_name for s in optuna.get_all_study_summaries(connect(url))]


@dataclass
class StudyReport:
    """`--report`: a study as lstmcli's meta data describes it, its points and the best one."""

    url: str  # password removed
    study: str
    meta: dict[str, Any]  # `meta(plan)` of the sweep that made it
    counts: dict[str, int]  # trials in each Optuna state
    points: list[Point]
    best: Point | None


def report(url: str, name: str | None) -> StudyReport:
    """`sweep --storage URL --report`: the study's points and best one, from any host."""
    import optuna

    storage = connect(url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    where = f"--storage {redact(url)}"
    if name is None:
        if len(names) != 1:
            listed = ", ".join(names) if names else "none"
            raise UsageError(f"{where}: expected one study or --study NAME, got {len(names)} ({listed})")
        name = names[0]
    elif name not in names:
        raise UsageError(f"{where}: expected --study one of {', '.join(names) or '(none)'}, got {name!r}")
    study = optuna.load_study(study_name=name, storage=storage)
    m = study.user_attrs.get(META)
    if m is None:
        close(storage)
        raise UsageError(f"{where}: study {name!r} was not made by lstmcli sweep")
    objective = sweep_mod.Objective(**m["objective"])
    pts = points(study)
    best = sweep_mod.best_point(pts, objective)
    c = counts(study)
    close(storage)
    return StudyReport(url=redact(url), study=name, meta=m, counts=c, points=pts, best=best)
