"""Every OS failure a user can cause is `Error: PATH: reason`, exit 2, nothing half-written; a
run directory checks that its model file is the model its config describes."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from conftest import HELLO, invoke, lstmcli
from lstmcli import runs

ONE = ["--set", "train.epochs=1"]


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_out_through_a_file(runner, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    r = invoke(runner, "train", HELLO, "--out", tmp_path / "notes.txt" / "run", *ONE)
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        f"Error: {tmp_path / 'notes.txt'}: expected a folder (on the way to "
        f"{tmp_path / 'notes.txt' / 'run'}), got a file"
    )
    assert _left(tmp_path) == ["notes.txt"]


@pytest.mark.parametrize("out", [".", ".."])
def test_out_dot(runner, tmp_path, monkeypatch, out) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke(runner, "train", HELLO, "--out", out, *ONE)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"Error: {out}: expected a new folder for the run")
    assert _left(tmp_path) == []


def test_missing_parents_of_out_are_made(runner, tmp_path) -> None:
    r = invoke(runner, "train", HELLO, "--out", tmp_path / "a" / "b" / "run", *ONE)
    assert r.exit_code == 0, r.output
    assert runs.is_run_dir(tmp_path / "a" / "b" / "run")


def _os_error(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, __import__("os").strerror(code), str(args[0]) if args else None)

    return fail


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_failure_while_creating_the_run_leaves_nothing(runner, tmp_path, monkeypatch, code) -> None:
    # A full disk while the first files are written, a read-only or forbidden parent.
    monkeypatch.setattr(runs, "write_text", _os_error(code))
    out = tmp_path / "run"
    r = invoke(runner, "train", HELLO, "--out", out, *ONE)
    assert r.exit_code == 2, r.output
    import os

    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("Error: ") and line.endswith(f": {os.strerror(code)}"), line
    assert str(tmp_path) in line and "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert _left(tmp_path) == []  # no run, no temporary sibling, no lock file


def test_read_only_parent_from_mkdtemp(runner, tmp_path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "mkdtemp", _os_error(errno.EROFS))
    r = invoke(runner, "train", HELLO, "--out", tmp_path / "run", *ONE)
    assert r.exit_code == 2
    assert r.stderr.strip().endswith("Read-only file system")
    assert _left(tmp_path) == []


def test_disk_full_at_a_checkpoint_keeps_the_last_good_one(runner, tmp_path, monkeypatch) -> None:
    real = runs.write_history
    calls = {"n": 0}

    def flaky(final, rows, *rest):
        calls["n"] += 1
        if calls["n"] >= 3:  # the untrained checkpoint and epoch 1 fit; epoch 2 does not
            raise OSError(errno.ENOSPC, "No space left on device", str(final))
        real(final, rows, *rest)

    monkeypatch.setattr(runs, "write_history", flaky)
    out = tmp_path / "run"
    r = invoke(runner, "train", HELLO, "--out", out, "--set", "train.epochs=3")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == f"Error: {out / 'history.csv'}: No space left on device"
    monkeypatch.setattr(runs, "write_history", real)
    r = invoke(runner, "train", "--resume", out, "--json")
    assert r.exit_code == 0, r.output
    assert [row["epoch"] for row in runs.read_history(out)] == [1, 2, 3]


def test_config_init_into_a_read_only_folder(runner, tmp_path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", _os_error(errno.EROFS))
    r = invoke(runner, "config", "init", tmp_path / "my.yaml")
    assert r.exit_code == 2
    assert r.stderr.strip().endswith(": Read-only file system")
    assert _left(tmp_path) == []


@pytest.fixture(scope="module")
def swapped(tmp_path_factory) -> Path:
    """A hello run (2 units) whose model.keras was replaced by another run's (4 units)."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("swap")
    for name, units in (("a", 2), ("b", 4)):
        r = invoke(CliRunner(), "train", HELLO, "--out", root / name, *ONE, "--set", f"model.units={units}")
        assert r.exit_code == 0, r.output
    shutil.copy(root / "b" / "model.keras", root / "a" / "model.keras")
    return root / "a"


@pytest.mark.parametrize("engine", ["numpy", "keras"])
@pytest.mark.parametrize("command", ["inspect", "predict"])
def test_a_swapped_model_file_is_refused_by_both_engines(runner, swapped, engine, command) -> None:
    args = [command, swapped, "--engine", engine] + (["hell"] if command == "predict" else [])
    r = invoke(runner, *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == (
        f"Error: {swapped / 'model.keras'}: does not match {swapped / 'config.yaml'}: the config "
        "describes lstm, 1 layer of 2 units, a 4-token vocabulary, the model file holds lstm, "
        "1 layer of 4 units, a 4-token vocabulary"
    )


def test_resume_refuses_a_swapped_model_file(runner, swapped) -> None:
    r = invoke(runner, "train", "--resume", swapped)
    assert r.exit_code == 2 and "does not match" in r.stderr


def test_piped_stderr_has_no_escape_codes(swapped) -> None:
    # A real pipe (not CliRunner): Rich decides on colour from the actual file descriptor.
    for args in (["inspect", swapped, "--engine", "keras"], ["train", "--resume", swapped / "nope"]):
        done = lstmcli(*args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("Error: ") and "\x1b" not in done.stderr, repr(done.stderr)
