"""lstmcli sweep --workers N and --storage URL on real databases: worker processes on one machine
(SQLite), separate `lstmcli sweep` processes sharing one study on a real PostgreSQL server,
SIGKILL and Ctrl-C in the middle of a trial, --report, and bad input (exit 2)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from postgres import _free_port, postgres_url  # noqa: F401  (the fixture)

from conftest import HELLO, invoke, run_json
from lstmcli import runs
from lstmcli.experiments import sweep as sweep_mod
from lstmcli.experiments import sweep_storage, sweep_workers

GRID = ["model.units=2,3", "train.learning_rate=0.05,0.1"]
NAMES = {
    "units=2,learning_rate=0.05",
    "units=2,learning_rate=0.1",
    "units=3,learning_rate=0.05",
    "units=3,learning_rate=0.1",
}
EPOCHS = 40
# Long enough to be caught in the middle; a checkpoint every epoch, so a resume loses nothing.
FIXED = [f"train.epochs={EPOCHS}", "train.checkpoint_every=1", "train.validation_split=0.34"]
FAST_HEARTBEAT = {"LSTMCLI_SWEEP_HEARTBEAT": "2"}  # a silent worker is taken for dead after 6 s
SPACE = "model.units: {choices: [2, 3, 4]}\ntrain.learning_rate: {low: 0.01, high: 0.2, log: true}\n"


def _args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    """A failing test leaves no sweep running (nor its worker processes, in their own sessions)."""
    yield
    for storage in _STORAGES.values():
        sweep_storage.close(storage)
    _STORAGES.clear()
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            for pid in _worker_pids(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()


def _start(*args: object, log: Path) -> subprocess.Popen[bytes]:
    """`lstmcli sweep …` as its own process (the console script), output to a file."""
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"
    env = {**os.environ, **FAST_HEARTBEAT}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    with open(log, "wb") as f:
        proc = subprocess.Popen([exe, "sweep", *map(str, args)], stdout=f, stderr=subprocess.STDOUT, env=env)
    _STARTED.append(proc)
    return proc


def _finish(proc: subprocess.Popen[bytes], log: Path, expect: int = 0) -> str:
    proc.wait(timeout=900)
    text = log.read_text(errors="replace")
    assert proc.returncode == expect, text
    return text


_STORAGES: dict[str, object] = {}


def _storage(url: str):
    """One storage (one connection pool) per database for the test's own polling: a new one per
    poll would leave PostgreSQL with too many clients."""
    import optuna

    if url not in _STORAGES:
        _STORAGES[url] = optuna.storages.RDBStorage(url)
    return _STORAGES[url]


def _trials(url: str, study: str = "hello") -> list:
    import optuna

    return optuna.load_study(study_name=study, storage=_storage(url)).get_trials()


def _wait_for(what, timeout: float = 600.0):
    """Poll until `what()` returns something truthy (no timing assumption: it waits for a state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the sweep's study to reach a state")


def _mid_trial(url: str, pids: set[int]):
    """A trial running in one of `pids`, at least one epoch in and not at its last."""
    from optuna.trial import TrialState

    for t in _trials(url):
        if t.state == TrialState.RUNNING and t.user_attrs.get("pid") in pids:
            if 1 <= t.user_attrs.get("epochs", 0) < EPOCHS - 5:
                return t
    return None


def _assert_each_point_once(url: str, names: set[str]) -> dict[str, list]:
    """Every point finished exactly once in the study; failed attempts only before a retry."""
    from optuna.trial import TrialState

    by_name: dict[str, list] = {}
    for t in _trials(url):
        by_name.setdefault(t.user_attrs["name"], []).append(t)
    assert set(by_name) == names
    for name, attempts in by_name.items():
        states = [t.state for t in attempts]
        assert states.count(TrialState.COMPLETE) == 1, (name, states)
        assert states[-1] == TrialState.COMPLETE and set(states[:-1]) <= {TrialState.FAIL}, (name, states)
    return by_name


def _history_epochs(run_dir: Path) -> list[int]:
    return [int(r["epoch"]) for r in runs.read_history(run_dir)]


def test_workers_and_storage_bad_input_exit_2(runner, tmp_path) -> None:
    out = tmp_path / "out"
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    other = tmp_path / "other.yaml"
    other.write_text("model.units: {choices: [2, 3]}\n")
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    # a study made by one search; the same storage with another space or objective is refused
    made = sweep_mod.plan(HELLO, FIXED, tmp_path / "first", None, [], space, 2, storage=db)
    sweep_storage.open_study(made, db)
    cases = [
        (["--set", "model.units=2,3", "--workers", "0"], "--workers: expected at least 1, got 0"),
        (["--set", "model.units=2,3", "--storage", "postgres//nohost"], "got a malformed URL"),
        (["--set", "model.units=2,3", "--storage", "oracle://me@db/x"], "got 'oracle'"),
        (
            ["--set", "model.units=2,3", "--storage", f"postgresql://lstm@127.0.0.1:{_free_port()}/sweeps"],
            "cannot reach the database",
        ),
        (["--search", other, "--trials", "2", "--storage", db], "different space file"),
        (
            ["--search", space, "--trials", "2", "--storage", db, "--objective", "accuracy:max"],
            "different objective",
        ),
        (["--search", space, "--trials", "3", "--storage", db], "different number of trials"),
    ]
    for args, message in cases:
        r = invoke(runner, "sweep", HELLO, *_args(FIXED), *args, "--out", out)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.count("Error:") == 1 and r.stderr.startswith("Error:"), (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert not out.exists()
    r = invoke(runner, "sweep", "--report", "--storage", f"sqlite:///{tmp_path / 'empty.db'}")
    assert r.exit_code == 2 and "expected one study or --study NAME, got 0" in r.stderr, r.output
    # the study itself is untouched by the refused commands, and --report reads it
    doc = run_json(runner, "sweep", "--report", "--storage", db)
    assert (doc["study"], doc["kind"], doc["trials"], doc["points"]) == ("hello", "search", 2, [])
    assert doc["counts"]["waiting"] == 2


@pytest.mark.slow
def test_sqlite_workers_run_each_point_once_and_a_killed_worker_resumes(runner, tmp_path) -> None:
    """--workers 2 on one machine: a worker process SIGKILLed mid-trial leaves its trial failed,
    Optuna's retry resumes the same run directory from its checkpoint; every point once."""
    out = tmp_path / "grid"
    log = tmp_path / "log"
    proc = _start(HELLO, *_args(GRID + FIXED), "--workers", "2", "--out", out, "--json", log=log)
    url = sweep_storage.default_url(out)
    _wait_for(lambda: (out / "study.db").exists() and (out / "sweep.json").exists())
    victim = _wait_for(lambda: _mid_trial(url, {p for p in _worker_pids(proc.pid)}))
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)
    text = _finish(proc, log)
    doc = json.loads(text[text.index("{") :])
    by_name = _assert_each_point_once(url, NAMES)
    killed = by_name[victim.user_attrs["name"]]
    assert [t.number for t in killed][0] == victim.number and len(killed) == 2
    assert killed[1].system_attrs["failed_trial"] == victim.number  # Optuna's retry of it
    # the retry resumed the killed trial's run directory: one run, every epoch once
    run_dir = out / victim.user_attrs["name"]
    assert _history_epochs(run_dir) == list(range(1, EPOCHS + 1))
    for t in _trials(url):  # each worker process had its share of the cores
        assert t.user_attrs["threads"] == list(sweep_workers.threads_for(2))
    # sweep.json, the --json document, --report, runs and compare agree
    saved = json.loads((out / "sweep.json").read_text())
    report = run_json(runner, "sweep", "--report", "--storage", url)
    assert saved["best"]["name"] == doc["best"]["name"] == report["best"]["name"]
    finished = [p for p in saved["points"] if p["status"] == "finished"]
    assert len(finished) == 4
    best = min(finished, key=lambda p: p["metrics"]["val_loss"])
    assert saved["best"]["name"] == best["name"]
    assert next(p for p in saved["points"] if p["name"] == victim.user_attrs["name"])["attempts"] == [
        t.number for t in killed
    ]
    listed = run_json(runner, "runs", out)
    assert sorted(r["name"] for r in listed["runs"]) == sorted(NAMES)
    assert run_json(runner, "compare", out / sorted(NAMES)[0], out / sorted(NAMES)[3])["config"]


def _worker_pids(parent: int) -> set[int]:
    """The worker processes `lstmcli sweep --workers N` started (children of `parent`)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.add(int(entry.name))
    return found


@pytest.mark.slow
def test_sqlite_ctrl_c_stops_every_worker_and_resume_finishes(runner, tmp_path) -> None:
    """SIGINT (a terminal's Ctrl-C) to `sweep --workers 2` with two trials running: both keep
    their checkpoints, exit 130, and --resume finishes both from there."""
    out = tmp_path / "grid"
    log = tmp_path / "log"
    proc = _start(HELLO, *_args(GRID + FIXED), "--workers", "2", "--out", out, log=log)
    url = sweep_storage.default_url(out)
    _wait_for(lambda: (out / "study.db").exists() and (out / "sweep.json").exists())

    def two_mid_trial():
        pids = _worker_pids(proc.pid)
        first = _mid_trial(url, pids)
        second = first and _mid_trial(url, pids - {first.user_attrs["pid"]})
        return (first, second) if second else None

    running = _wait_for(two_mid_trial)
    proc.send_signal(signal.SIGINT)
    text = _finish(proc, log, expect=130)
    assert "Resume with: lstmcli sweep --resume" in text and "Traceback" not in text
    saved = json.loads((out / "sweep.json").read_text())
    status = {p["name"]: p["status"] for p in saved["points"]}
    stopped = [t.user_attrs["name"] for t in running]
    assert all(status[n] == "interrupted" for n in stopped), status
    for n in stopped:  # each kept its checkpoint
        assert runs.RunDir(out / n).read_state()["epoch"] >= 1
    r = run_json(runner, "sweep", "--resume", out, "--workers", "2")
    assert [p["status"] for p in r["points"]] == ["finished"] * 4
    _assert_each_point_once(url, NAMES)
    for n in NAMES:
        assert _history_epochs(out / n) == list(range(1, EPOCHS + 1))
    assert r["best"]["name"] == json.loads((out / "sweep.json").read_text())["best"]["name"]


@pytest.mark.slow
def test_postgres_three_processes_share_one_study(runner, tmp_path, postgres_url) -> None:  # noqa: F811
    """Three `lstmcli sweep --storage postgresql://…` processes (as on three hosts, each with its
    own --out) split one grid; one is SIGKILLed mid-trial and another runs that point again
    (its trial failed, Optuna's retry taken by a live worker); no point runs twice otherwise."""
    url = postgres_url.replace("lstm@", "lstm:secret@")  # a password: kept out of sweep.json
    outs = [tmp_path / f"host{i}" for i in range(3)]
    logs = [tmp_path / f"log{i}" for i in range(3)]
    procs = [
        _start(HELLO, *_args(GRID + FIXED), "--storage", url, "--out", o, "--json", log=lg)
        for o, lg in zip(outs, logs, strict=True)
    ]
    victim = _wait_for(lambda: _mid_trial(postgres_url, {procs[0].pid}) if _has_study(postgres_url) else None)
    procs[0].kill()  # SIGKILL: no checkpoint, no goodbye, its heartbeat stops
    procs[0].wait()
    docs = []
    for proc, lg in zip(procs[1:], logs[1:], strict=True):
        text = _finish(proc, lg)
        docs.append(json.loads(text[text.index("{") :]))
    by_name = _assert_each_point_once(postgres_url, NAMES)
    killed = by_name[victim.user_attrs["name"]]
    assert killed[0].number == victim.number and killed[1].system_attrs["failed_trial"] == victim.number
    # each finished point ran in exactly one --out, all of its epochs once
    ran = Counter()
    for o in outs[1:]:
        for n in NAMES:
            if (o / n / "metrics.json").is_file():
                ran[n] += 1
                assert _history_epochs(o / n) == list(range(1, EPOCHS + 1))
    assert ran == Counter({n: 1 for n in NAMES})
    report = run_json(runner, "sweep", "--report", "--storage", postgres_url)
    for o, doc in zip(outs[1:], docs, strict=True):
        saved = json.loads((o / "sweep.json").read_text())
        assert saved["best"]["name"] == doc["best"]["name"] == report["best"]["name"]
        assert saved["storage"] == url.replace(":secret@", ":***@") and "secret" not in json.dumps(saved)
        assert sorted(p["status"] for p in saved["points"]) == ["finished"] * 4
    hosts = {p["run_dir"].split("/")[-2] for p in report["points"]}
    assert hosts <= {"host1", "host2"}


def _has_study(url: str) -> bool:
    """Whether the workers have made the study yet (asked with psycopg itself: an Optuna storage
    made while the workers create the tables can fail half-built and leak its connection)."""
    import psycopg

    with psycopg.connect(url) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM studies WHERE study_name = 'hello'").fetchone()
        except psycopg.errors.UndefinedTable:
            return False
    return bool(row and row[0])
