"""One owner per run directory: concurrent trains, --resume and --force against a held lock."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import HELLO, invoke, lstmcli
from lstmcli import runs

EPOCHS = ["--set", "train.epochs=3"]


def _tree(path: Path) -> dict[str, str]:
    """Every file under `path` with its SHA-256: what "nothing lost" compares."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def held(tmp_path):
    """A trained run whose lock this test process holds, as a training process would."""
    out = tmp_path / "run"
    r = invoke(_runner(), "train", HELLO, "--out", out, *EPOCHS, "--json")
    assert r.exit_code == 0, r.output
    lock = runs.claim(out)
    yield out
    lock.release()


def _runner():
    from typer.testing import CliRunner

    return CliRunner()


def test_claim_names_the_holder_and_is_reentrant(tmp_path) -> None:
    out = tmp_path / "run"
    lock_file = tmp_path / ".run.lock"
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another open file description: a rival
    try:
        locked = r"run: is locked by another lstmcli process \(pid 4242\)"
        with pytest.raises(runs.RunLockedError, match=locked):
            runs.claim(out, attempts=1)
        assert runs.lock_holder(out) == 4242
    finally:
        os.close(fd)
    lock = runs.claim(out)
    assert runs.claim(out) is lock  # re-entrant in one process
    assert lock_file.read_text().strip() == str(os.getpid())
    lock.release()
    assert not lock_file.exists()  # a released lock leaves nothing behind
    assert runs.lock_holder(out) is None


def test_resume_of_a_run_being_trained_exits_2(held) -> None:
    before = _tree(held)
    done = lstmcli("train", "--resume", held)
    assert done.returncode == 2, done.stderr
    locked = f"Error: {held}: is locked by another lstmcli process (pid {os.getpid()})"
    assert done.stderr.strip().startswith(locked)
    assert "Traceback" not in done.stderr
    assert _tree(held) == before


def test_force_over_a_running_run_exits_2_and_loses_nothing(held) -> None:
    before = _tree(held)
    done = lstmcli("train", HELLO, "--out", held, "--force", *EPOCHS)
    assert done.returncode == 2, done.stderr
    assert f"Error: {held}: is locked by another lstmcli process (pid {os.getpid()})" in done.stderr
    assert _tree(held) == before
    assert sorted(p.name for p in held.parent.iterdir()) == [".run.lock", "run"]


def test_force_is_refused_under_the_lock_too(held, monkeypatch) -> None:
    # The early check can be passed by a rival starting at the same moment: the check that
    # counts is the one create_run_dir makes holding the lock. Skip the early one to reach it.
    from lstmcli.training import loop as training

    before = _tree(held)
    prep = training.prepare(runs.open_run(held).config)
    monkeypatch.setattr(runs, "_HELD", {})  # as if this were another process: the lock is not ours
    with pytest.raises(runs.RunLockedError):
        training.create_run_dir(prep, held, force=True)
    assert _tree(held) == before


def test_runs_shows_a_locked_run_as_running(held) -> None:
    done = lstmcli("runs", held.parent, "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["runs"]
    assert row["running"] is True and row["pid"] == os.getpid()
    table = lstmcli("runs", held.parent, env={"COLUMNS": "200"})
    assert f"running (pid {os.getpid()})" in table.stdout


def test_runs_shows_a_finished_run_as_not_running(runner, hello_run) -> None:
    r = invoke(runner, "runs", hello_run, "--json")
    (row,) = json.loads(r.stdout)["runs"]
    assert row["running"] is False and row["pid"] is None


def test_new_run_into_a_locked_name_exits_2_and_writes_nothing(tmp_path) -> None:
    out = tmp_path / "new"
    lock = runs.claim(out)
    try:
        done = lstmcli("train", HELLO, "--out", out, *EPOCHS)
        assert done.returncode == 2, done.stderr
        assert "is locked by another lstmcli process" in done.stderr
        assert not out.exists()
    finally:
        lock.release()


@pytest.mark.slow  # four training processes at once: CI's slow run
def test_several_trains_racing_on_one_out(tmp_path) -> None:
    """Started together: exactly one wins, the others exit 2; the survivor is complete and
    the loss it reported is the one on disk."""
    out = tmp_path / "race"
    procs = []
    for seed in range(3):
        cmd = [_exe(), "train", str(HELLO), "--out", str(out), *EPOCHS, "--set", f"seed={seed}", "--json"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2, 2], results
    (winner,) = [json.loads(o) for code, o, _ in results if code == 0]
    for code, _, err in results:
        if code == 2:
            assert "Traceback" not in err
            assert err.startswith(f"Error: {out}: "), err
            assert "is locked by another lstmcli process" in err or "directory exists and is not empty" in err
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == winner["metrics"]
    assert runs.is_run_dir(out) and (out / "run.json").is_file()
    assert json.loads((out / "checkpoint.json").read_text())["finished"] is True
    # No lock file, no temporary sibling left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race"]


def _exe() -> str:
    import shutil
    import sys

    return shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"


def test_run_directory_gets_umask_permissions(runner, hello_run) -> None:
    mode = stat.S_IMODE(hello_run.stat().st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o777 & ~mask
