"""Run a sweep over its Optuna study: trials in this process (`--workers 1`) or in N worker
processes on this machine (`--workers N`), each trial claimed from the study, trained into its
run directory and told back. A trial that crashes fails alone; Ctrl-C stops every worker at a
checkpoint and queues its trial again for `--resume`; a worker killed outright stops its
heartbeat, and Optuna fails and re-queues its trial (sweep_storage).

`python -m lstmcli.experiments.sweep_workers SWEEP_DIR INTRA INTER` is one worker process: with
TensorFlow's thread pools capped at INTRA/INTER threads, it claims a trial, trains it, and the
next, until none is waiting.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lstmcli import runs
from lstmcli.errors import Interrupted, LstmcliError
from lstmcli.experiments import sweep as sweep_mod
from lstmcli.experiments import sweep_storage as store
from lstmcli.experiments.sweep import Plan, Point

ENV_URL = "LSTMCLI_SWEEP_STORAGE"  # the full URL (password too) for worker processes, not argv
LOGS = ".workers"  # inside the sweep folder: what a worker process wrote, kept when it failed


def storage_url(p: Plan) -> str:
    if p.storage is None:
        return store.default_url(p.out)
    given = os.environ.get(ENV_URL)
    return given if given and store.redact(given) == p.storage else p.storage


def threads_for(workers: int) -> tuple[int, int]:
    """Each worker's share of the cores this process may use: (intra-op, inter-op) threads."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    intra = max(1, cores // workers)
    return intra, (1 if intra < 4 else 2)


def refresh(p: Plan, study: Any) -> bool:
    """The plan's points from the study; sweep.json rewritten when they changed."""
    from dataclasses import asdict

    new = store.points(study)
    if p.kind == "search":
        new = [q for q in new if q.status != "pending"]  # unclaimed slots are no points yet
    changed = [asdict(q) for q in new] != [asdict(q) for q in p.points]
    p.points = new
    if changed or not (p.out / sweep_mod.SWEEP).exists():
        runs.write_json(p.out / sweep_mod.SWEEP, p.to_json())
    return changed


def run(
    p: Plan,
    url: str | None = None,
    progress_for: Callable[[Point], Any] | None = None,
    watch: Any = None,
    notify: Callable[[str], None] | None = None,
) -> Plan:
    """Run the sweep's trials until its study has none waiting or running (here or elsewhere).

    `progress_for(point)` is a training progress for a trial run in this process; `watch` hears
    about every point while worker processes run (`update(plan)`); `notify` takes a line to show.
    """
    url = url or storage_url(p)
    if p.storage is None:
        p.out.mkdir(parents=True, exist_ok=True)  # the default storage lives inside the folder
    storage = store.connect(url)  # an unreachable database fails before anything is written
    try:
        study = store.open_study(p, url, storage)
        p.out.mkdir(parents=True, exist_ok=True)
        runs.claim(p.out)  # one coordinating process per sweep folder
        refresh(p, study)
        if p.workers == 1:
            _in_process(p, study, url, progress_for, notify or (lambda line: None))
        else:
            _processes(p, study, url, watch, notify or (lambda line: None))
        refresh(p, study)
    finally:
        store.close(storage)
    return p


def _in_process(
    p: Plan, study: Any, url: str, progress_for: Callable[[Point], Any] | None, notify: Callable[[str], None]
) -> None:
    waited = False
    while True:
        store.fail_stale(study, url)
        tid = store.claim(study, url)
        if tid is not None:
            try:
                run_trial(p, study, tid, progress_for)
            finally:
                refresh(p, study)
            continue
        refresh(p, study)
        c = store.counts(study)
        if c["running"] == 0 and c["waiting"] == 0:
            return
        if not waited and c["running"]:
            notify(f"waiting for {c['running']} trial(s) running on other workers of the study")
            waited = True
        time.sleep(1.0)


# ---------------------------------------------------------------- one trial


@contextlib.contextmanager
def _unless_failed_elsewhere() -> Iterator[None]:
    """Marking a trial that another worker already failed (it took it for dead) is moot."""
    from optuna.exceptions import UpdateFinishedTrialError

    with contextlib.suppress(UpdateFinishedTrialError):
        yield


def _suggest(trial: Any, key: str, spec: dict[str, Any]) -> Any:
    if "choices" in spec:
        return trial.suggest_categorical(key, spec["choices"])
    lo, hi, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if isinstance(lo, int) and isinstance(hi, int):
        return trial.suggest_int(key, lo, hi, step=int(spec.get("step", 1)), log=log)
    return trial.suggest_float(key, float(lo), float(hi), step=spec.get("step"), log=log)


def run_trial(
    p: Plan,
    study: Any,
    tid: int,
    progress_for: Callable[[Point], Any] | None = None,
    threads: tuple[int, int] | None = None,
) -> Point:
    """Train the claimed trial `tid` into its run directory (resuming one left by an earlier
    attempt) and tell the study how it ended. Interrupts re-queue it; anything else fails it.
    `threads`: the (intra-op, inter-op) pool sizes TensorFlow was given, recorded with it."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    with store.Heartbeat(storage, tid):  # from the claim on, also while TensorFlow loads
        frozen = storage.get_trial(tid)
        trial, point = _open_trial(p, study, tid, frozen)
        try:
            _train_trial(p, study, trial, frozen, point, progress_for, threads)
        except (Interrupted, KeyboardInterrupt):
            with _unless_failed_elsewhere():
                trial.set_user_attr("interrupted", True)
                trial.set_user_attr("epochs", point.epochs)
                store.requeue(study, study.tell(trial, state=TrialState.FAIL))
            raise
        except UpdateFinishedTrialError:  # another worker took it for dead: its retry has it now
            point.status = "failed"
            point.error = (
                f"trial {frozen.number} was failed by another worker while it ran here (no heartbeat "
                "within 3 × LSTMCLI_SWEEP_HEARTBEAT seconds); its retry runs it again"
            )
            return point
        except BaseException as e:
            message = e.message if isinstance(e, LstmcliError) else f"internal error: {type(e).__name__}: {e}"
            with _unless_failed_elsewhere():
                trial.set_user_attr("error", message)
                study.tell(trial, state=TrialState.FAIL)
            raise
        _tell_end(p, study, trial, point)
    return point


def _open_trial(p: Plan, study: Any, tid: int, frozen: Any) -> tuple[Any, Point]:
    """The study's live trial `tid` and the point it trains, as far as known before sampling."""
    import optuna

    attrs = frozen.user_attrs
    if p.kind == "search" and "name" not in attrs:
        # A sampler seeded per trial number: one worker gives the same trials every time.
        study.sampler = optuna.samplers.TPESampler(seed=p.seed + frozen.number, constant_liar=True)
    trial = optuna.trial.Trial(study, tid)
    name = attrs.get("name", f"trial {frozen.number}")
    return trial, Point(name, attrs.get("values", {}), trial=frozen.number)


def _train_trial(
    p: Plan,
    study: Any,
    trial: Any,
    frozen: Any,
    point: Point,
    progress_for: Callable[[Point], Any] | None,
    threads: tuple[int, int] | None,
) -> None:
    """Sample the point (search), record who trains it where, and train it."""
    if p.kind == "search":
        assert p.space is not None  # search plans always carry their space
        point.values = {k: _suggest(trial, k, spec) for k, spec in p.space.items()}
        prefix = f"{frozen.number:03d}-"
        point.name = frozen.user_attrs.get("name") or sweep_mod.point_name(point.values, prefix)
    run_dir = p.out / point.name
    for key, value in {
        "name": point.name,
        "values": point.values,
        "host": store.HOST,
        "pid": os.getpid(),
        "run_dir": str(run_dir.resolve()),
        "threads": list(threads) if threads else None,
        "error": None,
        "interrupted": False,
    }.items():
        trial.set_user_attr(key, value)
    metric = p.objective.metric
    for row in runs.read_history(run_dir) if runs.is_run_dir(run_dir) else []:
        if metric in row and p.kind == "search":  # an earlier attempt's epochs, for the pruner
            trial.report(row[metric], int(row["epoch"]))
    if progress_for is not None:
        refresh(p, study)
    cfg = sweep_mod.point_config(p.base, point.values, p.source)
    progress = progress_for(point) if progress_for else None
    sweep_mod._train_point(p, point, cfg, [sweep_mod._Listener(_on_epoch(p, trial, point))], progress)


def _on_epoch(p: Plan, trial: Any, point: Point) -> Callable[[int, dict[str, float]], None]:
    """What each epoch tells the study: progress for others, and the objective for the pruner."""
    metric = p.objective.metric
    shown = [0.0]

    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        point.epochs = epoch + 1
        point.metrics = {k: v for k, v in row.items() if k != "epoch"}
        if time.monotonic() - shown[0] >= 1.0:  # progress for others, at most once a second
            shown[0] = time.monotonic()
            trial.set_user_attr("epochs", point.epochs)
            trial.set_user_attr("metrics", point.metrics)
        value = row.get(metric)
        if value is None or p.kind != "search":
            return
        trial.report(value, epoch + 1)  # for the pruner
        if trial.should_prune():
            raise sweep_mod.Pruned(f"pruned at epoch {epoch + 1}: {metric} = {value:.4g}")

    return on_epoch


def _tell_end(p: Plan, study: Any, trial: Any, point: Point) -> None:
    """Tell the study how a trial that ran to its end ended: its objective, pruned, or failed."""
    from optuna.trial import TrialState

    trial.set_user_attr("epochs", point.epochs)
    trial.set_user_attr("metrics", point.metrics)
    value = point.metrics.get(p.objective.metric)
    if point.status == "finished" and isinstance(value, int | float) and math.isfinite(value):
        study.tell(trial, value)
    elif point.status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        if point.status == "finished":
            point.error = f"its objective {p.objective.metric} is missing or not finite"
        trial.set_user_attr("error", point.error)
        study.tell(trial, state=TrialState.FAIL)


# ---------------------------------------------------------------- N worker processes


@contextlib.contextmanager
def _forwarding(children: dict[int, subprocess.Popen[bytes]], received: list[int]) -> Iterator[None]:
    """SIGINT/SIGTERM to this process go to every worker (each saves its checkpoint); workers
    run in their own sessions, so a terminal's Ctrl-C reaches each exactly once, through here."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        for child in children.values():
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _running() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.RUNNING,)


def _processes(p: Plan, study: Any, url: str, watch: Any, notify: Callable[[str], None]) -> None:
    intra, inter = threads_for(p.workers)
    logs = p.out / LOGS
    logs.mkdir(exist_ok=True)
    env = {**os.environ, ENV_URL: url, "OMP_NUM_THREADS": str(intra)}
    children: dict[int, subprocess.Popen[bytes]] = {}
    log_of: dict[int, Path] = {}
    received: list[int] = []
    waited = False
    next_stale_check = 0.0
    with _forwarding(children, received):
        while True:
            _reap(children, log_of, notify)
            if received and not children:
                break
            if not received and time.monotonic() >= next_stale_check:
                store.fail_stale(study, url)
                next_stale_check = time.monotonic() + store.heartbeat_seconds()
            c = store.counts(study)
            if not received:
                mine = {t.user_attrs.get("pid") for t in study.get_trials(deepcopy=False, states=_running())}
                unclaimed = len([pid for pid in children if pid not in mine])
                for _ in range(min(p.workers - len(children), c["waiting"] - unclaimed)):
                    log = logs / f"worker-{time.time_ns()}.log"
                    child = _spawn(p, log, env, intra, inter)
                    children[child.pid] = child
                    log_of[child.pid] = log
            refresh(p, study)
            if watch is not None:
                watch.update(p)
            if not received and not children and c["waiting"] == 0:
                if c["running"] == 0:
                    break
                if not waited:
                    notify(f"waiting for {c['running']} trial(s) running on other workers of the study")
                    waited = True
            time.sleep(1.0)  # the coordinator polls the study; the workers do the work
    with contextlib.suppress(OSError):
        logs.rmdir()  # empty: every worker ended cleanly
    if received:
        name = signal.Signals(received[0]).name
        raise Interrupted(
            f"stopped by {name}; every worker saved its trial's checkpoint", f"stopped by {name}"
        )


def _reap(
    children: dict[int, subprocess.Popen[bytes]], log_of: dict[int, Path], notify: Callable[[str], None]
) -> None:
    """Forget every worker that has ended, say why one ended badly, and drop an empty log."""
    for pid, child in list(children.items()):
        rc = child.poll()
        if rc is None:
            continue
        del children[pid]
        log = log_of.pop(pid)
        text = log.read_text(errors="replace").strip() if log.exists() else ""
        if not text:
            log.unlink(missing_ok=True)
        if rc < 0:
            name = signal.Signals(-rc).name
            notify(f"worker pid {pid} was killed by {name}; its trial is retried after its heartbeat")
        elif rc not in (0, 130):
            last = text.splitlines()[-1] if text else "no output"
            notify(f"worker pid {pid} exited with code {rc}: {last} (log: {log})")


def _spawn(p: Plan, log: Path, env: dict[str, str], intra: int, inter: int) -> subprocess.Popen[bytes]:
    """One worker process in its own session, its output into `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lstmcli.experiments.sweep_workers",
                *map(str, (p.out, intra, inter)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def main(argv: list[str] | None = None) -> int:
    """One worker process: claim a trial of the sweep in SWEEP_DIR, train it, and the next,
    until none is waiting. One process per worker, not per trial: TensorFlow's import and
    start-up (seconds) are paid once, and a trial that crashes its process takes only itself."""
    args = sys.argv[1:] if argv is None else argv
    out, intra, inter = Path(args[0]), int(args[1]), int(args[2])
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # before training: a clean stop too
    try:
        p = sweep_mod.load_plan(out)
        url = storage_url(p)
        storage = store.connect(url)
        try:
            study = store.open_study(p, url, storage)
            from lstmcli.model import backend

            backend.set_threads(intra, inter)  # before any trial: TensorFlow fixes them at its start
            while True:
                tid = store.claim(study, url)
                if tid is None:
                    return 0  # none left (or another worker took the last)
                run_trial(p, study, tid, None, (intra, inter))
                store.fail_stale(study, url)
        finally:
            store.close(storage)
    except (Interrupted, KeyboardInterrupt):
        return 130
    except LstmcliError as e:
        print(f"Error: {e.message}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
