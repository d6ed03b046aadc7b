"""tf.distribute: mirrored over two logical CPU devices, bad setups, and the multi-worker state
of this TensorFlow/Keras version. Every TensorFlow device setup happens in a subprocess."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, lstmcli

MIRRORED = """\
vocab: [h, e, l, o]
sequence_length: 5
seed: 0
model: {units: 4}
data: {sequences: [hello, eolll, lleel, hello, eolll, lleel]}
train: {epochs: 12, batch_size: 6, learning_rate: 0.05, checkpoint_every: 6,
        distribute: mirrored, devices: ["CPU:0", "CPU:1"]}
"""


def _losses(run) -> list[float]:
    with (run / "history.csv").open() as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


# A mirrored and a plain training process: CI's slow run (the default run stays under 5 minutes).
@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(tmp_path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text(MIRRORED)
    two = lstmcli("train", cfg, "--out", tmp_path / "two", "--json")
    assert two.returncode == 0, two.stderr
    one = lstmcli("train", cfg, "--out", tmp_path / "one", "--json", "--set", "train.distribute=none")
    assert one.returncode == 0, one.stderr
    record = json.loads((tmp_path / "two" / "run.json").read_text())
    assert record["replicas"] == 2 and record["distribute"] == "mirrored"
    assert [d.rsplit("/", 1)[-1] for d in record["devices"]] == ["device:CPU:0", "device:CPU:1"]
    a, b = _losses(tmp_path / "two"), _losses(tmp_path / "one")
    assert len(a) == len(b) == 12
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5
    assert a[-1] < a[0]
    done = lstmcli("predict", tmp_path / "two", "hell", "--json")  # the saved model is plain
    assert done.returncode == 0, done.stderr


def SLOW(*values: object) -> object:  # noqa: N802  (reads as a row of the table below)
    """A row run by CI's slow run only: each row starts TensorFlow in a process of its own (~5 s),
    so the default run keeps one row of each kind (replicas, TF_CONFIG, the timeout variable)."""
    return pytest.param(*values, marks=pytest.mark.slow)


@pytest.mark.parametrize(
    ("sets", "env", "fragment"),
    [
        (["train.batch_size=5"], {}, "expected a multiple of the 2 replicas"),
        SLOW(["train.devices=[]"], {}, "expected at least one device for mirrored, got none"),
        SLOW(["train.devices=[GPU:7]"], {}, "'GPU:7' is not a device here"),
        (["train.distribute=multi_worker"], {}, "needs the TF_CONFIG environment variable"),
        SLOW(["train.distribute=multi_worker"], {"TF_CONFIG": "{not json"}, "TF_CONFIG: expected JSON"),
        (
            ["train.distribute=multi_worker"],
            {"LSTMCLI_COLLECTIVE_TIMEOUT": "abc"},
            "LSTMCLI_COLLECTIVE_TIMEOUT: expected a positive number of seconds, got 'abc'",
        ),
        SLOW(
            ["train.distribute=multi_worker"],
            {"LSTMCLI_COLLECTIVE_TIMEOUT": "-1"},
            "LSTMCLI_COLLECTIVE_TIMEOUT: expected a positive number of seconds, got '-1'",
        ),
        SLOW(
            ["train.distribute=multi_worker"],
            {"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}'},
            "TF_CONFIG: task.index: expected 0..0, got 3",
        ),
        SLOW(
            ["train.distribute=multi_worker"],
            {"TF_CONFIG": '{"cluster": {"worker": "a:1"}}'},
            "TF_CONFIG: cluster.worker: expected a list of host:port",
        ),
    ],
)
def test_bad_distribution_setups_exit_2_before_training(tmp_path, sets, env, fragment) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text(MIRRORED)
    args = [a for s in sets for a in ("--set", s)]
    done = lstmcli("train", cfg, "--out", tmp_path / "run", *args, env=env)
    assert done.returncode == 2, done.stderr
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_env(cluster: dict, index: int, extra_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(extra_env)
    env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    return env


def _start_workers(args: list, extra_env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """Two workers on loopback running the same command."""
    return _start([args, args], extra_env)


def _finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[subprocess.CompletedProcess]:
    out = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def _multi_worker_cfg(tmp_path: Path, epochs: int = 12, every: int = 6) -> Path:
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(
        MIRRORED.replace('distribute: mirrored, devices: ["CPU:0", "CPU:1"]', "distribute: multi_worker")
        .replace("epochs: 12", f"epochs: {epochs}")
        .replace("checkpoint_every: 6", f"checkpoint_every: {every}")
    )
    return cfg


@pytest.mark.slow  # three training processes: CI's slow run (the default run stays under 5 minutes)
def test_two_workers_on_loopback_train_like_one_device(tmp_path) -> None:
    cfg = _multi_worker_cfg(tmp_path)
    results = _finish(_start_workers(["train", cfg, "--out", tmp_path / "run", "--json"]))
    for r in results:
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert json.loads(r.stdout)["run_dir"] == str(tmp_path / "run")  # every worker names it
    # Only the chief wrote: one run directory, nothing else beside it.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["mw.yaml", "run"]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["distribute"] == "multi_worker" and record["replicas"] == 2
    one = lstmcli("train", cfg, "--out", tmp_path / "one", "--set", "train.distribute=none")
    assert one.returncode == 0, one.stderr
    a, b = _losses(tmp_path / "run"), _losses(tmp_path / "one")
    assert len(a) == len(b) == 12 and a[-1] < a[0]
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5
    done = lstmcli("predict", tmp_path / "run", "hell", "--json")
    assert done.returncode == 0, done.stderr


# slow: four worker processes; multi_worker training is held by the loopback test above, resume by
# test_resume.py; this adds the text corpus and a resume across workers (CI's slow run).
@pytest.mark.slow
def test_two_workers_on_a_text_corpus_and_resume(tmp_path) -> None:
    story = (ROOT / "configs" / "data" / "lighthouse.txt").read_text()
    (tmp_path / "corpus.txt").write_text(story[:656])
    cfg = tmp_path / "text.yaml"
    cfg.write_text(
        "vocab: auto\nsequence_length: 16\nmodel: {units: 16}\ndata: {text_file: corpus.txt}\n"
        "train: {epochs: 2, batch_size: 64, shuffle: false, distribute: multi_worker}\n"
    )
    out = tmp_path / "run"
    results = _finish(_start_workers(["train", cfg, "--out", out, "--json"]))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    # Extend the finished run under multi_worker: every worker resumes from the chief's checkpoint.
    results = _finish(_start_workers(["train", "--resume", out, "--set", "train.epochs=3", "--json"]))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    one = lstmcli(
        "train", cfg, "--out", tmp_path / "one", "--set", "train.distribute=none", "--set", "train.epochs=3"
    )
    assert one.returncode == 0, one.stderr
    a, b = _losses(out), _losses(tmp_path / "one")
    assert len(a) == len(b) == 3 and a[-1] < a[0]
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5


# slow: two workers training until one is killed and the collective timeout fires.
@pytest.mark.slow
def test_a_worker_that_dies_makes_the_other_fail_clearly(tmp_path) -> None:
    import signal
    import time

    cfg = _multi_worker_cfg(tmp_path, epochs=100_000, every=50)
    out = tmp_path / "run"
    procs = _start_workers(["train", cfg, "--out", out], {"LSTMCLI_COLLECTIVE_TIMEOUT": "10"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until training is under way (a checkpoint past the first)
        try:
            if json.loads((out / "checkpoint.json").read_text())["epoch"] >= 50:
                break
        except (FileNotFoundError, ValueError):
            pass
        assert procs[0].poll() is None, procs[0].communicate()
        time.sleep(0.1)
    procs[1].send_signal(signal.SIGKILL)
    # Bounded by the collective timeout, not a hang (communicate's timeout guards a hang; no
    # wall-time assertion: a busy machine is slow, not wrong).
    chief = _finish(procs[:1], timeout=600)[0]
    _finish(procs[1:])  # reaps the killed worker and closes its pipes
    assert chief.returncode == 1, chief.stderr
    lines = chief.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: train.distribute: multi_worker: lost contact")
    assert f"lstmcli train --resume {out}" in lines[0]
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] % 50 == 0  # a whole checkpoint


# slow: three processes; mirrored training is held by test_mirrored_on_two_logical_cpus_matches_one_device,
# the resume rules by test_resume.py (CI's slow run still resumes under mirrored).
@pytest.mark.slow
def test_resume_under_mirrored(tmp_path) -> None:
    import signal
    import time

    cfg = tmp_path / "m.yaml"
    cfg.write_text(
        MIRRORED.replace("epochs: 12", "epochs: 60").replace("checkpoint_every: 6", "checkpoint_every: 1")
    )
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"
    out = tmp_path / "run"
    # Far more epochs than it will train: the loop (and its signal handler) is still running when
    # the signal lands; the resume sets the 60 epochs of the one-device run.
    proc = subprocess.Popen(
        [exe, "train", str(cfg), "--out", str(out), "--set", "train.epochs=100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600  # a hang guard only
    while time.monotonic() < deadline and proc.poll() is None:
        try:  # the readiness marker: a checkpoint written by the training loop
            if json.loads((out / "checkpoint.json").read_text())["epoch"] >= 3:
                break
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGSTOP)  # paused, signalled, resumed: handled where it was seen ready
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] < 60
    done = lstmcli("train", "--resume", out, "--json", "--set", "train.epochs=60")
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "run.json").read_text())["replicas"] == 2
    one = lstmcli("train", cfg, "--out", tmp_path / "one", "--set", "train.distribute=none")
    assert one.returncode == 0, one.stderr
    a, b = _losses(out), _losses(tmp_path / "one")
    assert len(a) == 60
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5


# slow: mirrored = one device is held on sequences by test_mirrored_on_two_logical_cpus_matches_one_device;
# this repeats it on a text corpus (CI's slow run).
@pytest.mark.slow
def test_mirrored_text_corpus_matches_one_device(tmp_path) -> None:
    # 16 + 640 characters: 640 windows of 17, ten full batches of 64. shuffle: false because
    # under a strategy tf.data draws another (still seeded) shuffle order than on one device:
    # with shuffling the two curves agree in trend, not step by step (README).
    story = (ROOT / "configs" / "data" / "lighthouse.txt").read_text()
    (tmp_path / "corpus.txt").write_text(story[:656])
    cfg = tmp_path / "text.yaml"
    cfg.write_text(
        "vocab: auto\nsequence_length: 16\nmodel: {units: 16}\ndata: {text_file: corpus.txt}\n"
        "train: {epochs: 3, batch_size: 64, checkpoint_every: 3, shuffle: false, distribute: mirrored,\n"
        "        devices: [CPU:0, CPU:1]}\n"
    )
    two = lstmcli("train", cfg, "--out", tmp_path / "two", "--json")
    assert two.returncode == 0, two.stderr
    one = lstmcli("train", cfg, "--out", tmp_path / "one", "--json", "--set", "train.distribute=none")
    assert one.returncode == 0, one.stderr
    assert json.loads((tmp_path / "two" / "run.json").read_text())["replicas"] == 2
    a, b = _losses(tmp_path / "two"), _losses(tmp_path / "one")
    assert len(a) == 3 and a[-1] < a[0]
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5


def _start(per_worker: list[list], extra_env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """One worker per argument list, on loopback (1 worker: a one-device multi_worker run)."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in per_worker]}
    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"
    return [
        subprocess.Popen(
            [exe, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_worker_env(cluster, i, extra_env or {}),
        )
        for i, args in enumerate(per_worker)
    ]


_WEIGHTS = """\
import sys
import numpy as np
from lstmcli.model import backend
model = backend.load_model_for_training(sys.argv[1] + "/model.keras")
if len(sys.argv) > 2:  # a stale copy: one weight changed, the optimizer state kept
    w = model.layers[-1].kernel
    w.assign(w.numpy() + np.where(np.arange(w.numpy().size).reshape(w.shape) == 0, 1.5, 0.0))
    model.save(sys.argv[1] + "/model.keras")
np.save(sys.argv[1] + "/weights.npy", np.concatenate([np.ravel(v) for v in model.get_weights()]))
"""


def _weights(run: Path, *change: str) -> Any:
    import numpy as np

    done = subprocess.run([sys.executable, "-c", _WEIGHTS, run, *change], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return np.load(run / "weights.npy")


@pytest.mark.slow
def test_a_worker_with_a_different_copy_trains_from_the_chiefs_weights(tmp_path) -> None:
    import numpy as np

    cfg = _multi_worker_cfg(tmp_path, epochs=4, every=2)
    run, copy, ref = tmp_path / "run", tmp_path / "copy", tmp_path / "ref"
    (first,) = _finish(_start([["train", cfg, "--out", run]]))  # one worker: 4 epochs
    assert first.returncode == 0, first.stderr
    shutil.copytree(run, ref)
    shutil.copytree(run, copy)
    chiefs = _weights(run)
    stale = _weights(copy, "change")  # worker 1 resumes from a copy with one weight changed
    assert np.abs(stale - chiefs).max() == 1.5
    more = ["--set", "train.epochs=8"]
    results = _finish(_start([["train", "--resume", run, *more], ["train", "--resume", copy, *more]]))
    for r in results:
        assert r.returncode == 0, r.stderr
    # The reference: the chief's copy resumed on one device.
    (one,) = _finish(_start([["train", "--resume", ref, *more]]))
    assert one.returncode == 0, one.stderr
    a, b = _losses(run), _losses(ref)
    assert len(a) == len(b) == 8
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5
    assert np.abs(_weights(run) - _weights(ref)).max() < 1e-5


@pytest.mark.slow
def test_a_worker_whose_copy_is_at_another_checkpoint_makes_every_worker_exit_2(tmp_path) -> None:
    cfg = _multi_worker_cfg(tmp_path, epochs=2, every=2)
    run, stale = tmp_path / "run", tmp_path / "stale"
    (first,) = _finish(_start([["train", cfg, "--out", run]]))  # one worker: 2 epochs
    assert first.returncode == 0, first.stderr
    shutil.copytree(run, stale)  # worker 1's copy stays at epoch 2, the chief's goes on to 4
    (more,) = _finish(_start([["train", "--resume", run, "--set", "train.epochs=4"]]))
    assert more.returncode == 0, more.stderr
    before = (run / "checkpoint.json").read_text()
    results = _finish(
        _start(
            [["train", "--resume", d, "--set", "train.epochs=8"] for d in (run, stale)],
            {"LSTMCLI_COLLECTIVE_TIMEOUT": "60"},
        )
    )
    for r, d, mine in zip(results, (run, stale), (4, 2), strict=True):
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert lines == [
            f"Error: {d}: the workers' copies of the run directory differ (the chief's "
            f"checkpoint.json is at epoch 4 + 0 steps, this worker's at epoch {mine} + 0): give "
            "every worker the same run directory contents (a shared file system, or a fresh copy "
            "of the chief's), then resume"
        ]
    assert (run / "checkpoint.json").read_text() == before  # nothing trained, nothing written
