"""What the README promises, checked through the real console script (issue 12's five claims)."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import HELLO, NOISE, invoke, lstmcli


def test_tf_cpp_min_log_level_0_shows_tensorflows_own_logging() -> None:
    quiet = lstmcli("inspect", HELLO, "--json")
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = lstmcli("inspect", HELLO, "--json", env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert loud.returncode == 0, loud.stderr
    assert NOISE.search(loud.stderr), loud.stderr  # TensorFlow's start-up lines, let through
    assert json.loads(loud.stdout)["shapes"]["x"] == [3, 5, 4]  # stdout stays results only


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "RUN", "hell"],
        ["inspect", "RUN"],
        ["runs", "RUNS"],
        ["config", "show", str(HELLO)],
        ["config", "validate", str(HELLO)],
        ["config", "schema"],
        ["compare", "RUN", "RUN"],
    ],
)
def test_quiet_works_on_every_command(runner, hello_run, args) -> None:
    # Only results and errors: the results as without --quiet, nothing on stderr.
    args = [str(hello_run) if a == "RUN" else str(hello_run.parent) if a == "RUNS" else a for a in args]
    loud = invoke(runner, *args)
    for done in (invoke(runner, *args, "--quiet"), invoke(runner, "-q", *args)):
        assert done.exit_code == 0, done.output
        assert done.stderr == ""
        assert done.stdout == loud.stdout and done.stdout


def test_quiet_train_prints_the_run_directory_and_nothing_on_stderr(runner, tmp_path) -> None:
    out = tmp_path / "hello"
    loud = lstmcli("train", HELLO, "--out", out, "--set", "train.epochs=2")
    assert loud.returncode == 0 and loud.stderr.strip() == f"run directory: {out}"
    done = lstmcli("train", HELLO, "--out", out, "--force", "--set", "train.epochs=2", "--quiet")
    assert done.returncode == 0 and done.stderr == "", done.stderr  # TensorFlow's start-up too
    assert done.stdout.splitlines()[-1] == str(out)
    # -q, the same option's short name, in this process (TensorFlow is loaded here already).
    short = invoke(runner, "train", HELLO, "--out", out, "--force", "--set", "train.epochs=2", "-q")
    assert short.exit_code == 0 and short.stderr == "", short.stderr
    assert short.stdout.splitlines()[-1] == str(out)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--bogus"], "lstmcli train: No such option: --bogus"),
        (["predict"], "lstmcli predict: Missing argument"),
        (["inspect", str(HELLO), "--layer", "x"], "lstmcli inspect: Invalid value for '--layer'"),
    ],
)
def test_click_usage_errors_are_one_error_line_exit_2(args, fragment) -> None:
    done = lstmcli(*args)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], done.stderr
    assert "╭" not in done.stderr and done.stdout == ""


def test_predict_json_engine_is_numpy_on_a_run_directory(runner, hello_run) -> None:
    done = invoke(runner, "predict", hello_run, "hell", "--json")
    assert json.loads(done.stdout)["engine"] == "numpy"  # as the README's example shows


@pytest.mark.parametrize(
    ("unknown", "sequences", "expected"),
    [
        ("skip", ["abx", "bax"], [["a", "b"], ["b", "a"]]),  # skipped, then sequence_length counts
        ("<unk>", ["abx", "xba"], [["a", "b", "<unk>"], ["<unk>", "b", "a"]]),  # replaced in place
    ],
)
def test_data_unknown_applies_to_inline_sequences(tmp_path, unknown, sequences, expected) -> None:
    from lstmcli import config, data

    vocab = ["a", "b"] + ([unknown] if unknown != "skip" else [])
    body = {
        "vocab": vocab,
        "sequence_length": len(expected[0]),
        "data": {"sequences": sequences, "unknown": unknown},
    }
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(body))
    cfg = config.load(p)
    seqs = data.config_sequences(cfg)
    assert [[cfg.vocab[i] for i in s] for s in seqs] == expected
    corpus = data.read_corpus(cfg)
    assert [cfg.vocab[i] for i in corpus.ids] == [t for s in expected for t in s]


def test_data_unknown_error_still_names_the_token(tmp_path) -> None:
    from lstmcli import config
    from lstmcli.errors import ConfigError

    body = {"vocab": ["a", "b"], "sequence_length": 3, "data": {"sequences": ["abx"]}}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(body))
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert "data.sequences[0]: expected tokens from the vocabulary [a, b], got 'x'" in e.value.message
