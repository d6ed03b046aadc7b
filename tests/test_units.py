"""`lstmcli units`: the ranking maths against hand-computed values, the features, the command on
next-token and classify runs of every cell (cross-checked against `inspect --gates`), its errors,
the coloured strip under a pseudo-terminal, and (slow) the two demonstrations of docs/explore.md."""

from __future__ import annotations

import json
import os
import pty
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import HELLO, ROOT, invoke, lstmcli, run_json
from lstmcli.analysis import units as U

STATES = {"lstm": {"h", "c", "i", "f", "g", "o"}, "gru": {"h", "z", "r", "g"}, "simple_rnn": {"h"}}


# ---------------------------------------------------------------- the maths, by hand


def test_pearson_matches_a_hand_computed_value() -> None:
    # x = 1 2 3 4 (centred -1.5 -.5 .5 1.5), y = 1 2 3 5 (centred -1.75 -.75 .25 2.25):
    # Σxy = 2.625 + .375 + .125 + 3.375 = 6.5, Σx² = 5, Σy² = 8.75, r = 6.5 / √43.75 = 0.982708.
    r = U.pearson(np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([1.0, 2.0, 3.0, 5.0]))
    assert r[0] == pytest.approx(6.5 / np.sqrt(43.75), abs=1e-12)
    assert r[0] == pytest.approx(0.982708, abs=1e-6)


def test_a_constant_unit_scores_zero() -> None:
    r = U.pearson(np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 3.0]]), np.array([1.0, 2.0, 4.0]))
    assert r[0] == 0.0 and r[1] > 0.9


def test_auc_matches_hand_computed_values_with_and_without_ties() -> None:
    # Positives 0.35, 0.8 against negatives 0.1, 0.4: 0.35 beats 0.1 only, 0.8 beats both: 3 / 4.
    assert U.auc(np.array([[0.1], [0.4], [0.35], [0.8]]), np.array([0, 0, 1, 1]))[0] == 0.75
    # Positives {1, 2} against negatives {1, 3}: 1~1 counts ½, 2 > 1 counts 1: 1.5 / 4.
    assert U.auc(np.array([[1.0], [1.0], [2.0], [3.0]]), np.array([1, 0, 1, 0]))[0] == 0.375


def test_average_ranks_share_ties() -> None:
    assert U.average_ranks(np.array([5.0, 1.0, 5.0, 3.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_a_unit_equal_to_the_feature_ranks_first_with_r_1() -> None:
    rng = np.random.default_rng(0)
    feature = rng.integers(0, 5, 300).astype(float)
    h = rng.normal(size=(300, 8))
    h[:, 5] = feature
    c = rng.normal(size=(300, 8))
    best = U.rank({"h": h, "c": c}, feature, "correlation")
    assert (best[0].unit, best[0].state) == (5, "h")
    assert best[0].score == pytest.approx(1.0)
    assert abs(best[1].score) < 0.3  # noise is far behind
    assert len(best) == 16


def test_a_unit_equal_to_a_yes_no_feature_has_auc_1_and_its_mirror_auc_0_ranks_with_it() -> None:
    rng = np.random.default_rng(1)
    inside = rng.random(200) < 0.3
    g = rng.random((200, 6))
    g[:, 2] = inside
    g[:, 4] = 1.0 - inside  # low inside a match tracks it as well
    best = U.rank({"g": g}, inside.astype(float), "auc")
    assert {(b.unit, b.score) for b in best[:2]} == {(2, 1.0), (4, 0.0)}
    assert all(0.3 < b.score < 0.7 for b in best[2:])


# ---------------------------------------------------------------- the features


def test_depth_counts_open_minus_close_after_each_token() -> None:
    assert U.depth_feature(list("(a(b))c"), "(", ")").tolist() == [1, 1, 2, 2, 1, 0, 0]


def test_column_counts_tokens_since_the_last_newline_chars_and_words() -> None:
    text = "ab\ncd\n\ne"
    assert U.column_feature(text, U.token_spans(text, "char")).tolist() == [0, 1, 2, 0, 1, 2, 0, 0]
    words = "the cat\nsat on  it\nnow"
    spans = U.token_spans(words, "word")
    assert [words[a:b] for a, b in spans] == words.split()
    assert U.column_feature(words, spans).tolist() == [0, 1, 0, 1, 2, 0]


def test_match_marks_the_tokens_inside_a_match() -> None:
    text = 'say "hi there" ok'
    inside = U.match_feature(text, U.token_spans(text, "char"), r'"[^"]*"')
    assert "".join(ch for ch, x in zip(text, inside, strict=True) if x) == '"hi there"'
    words = U.match_feature(text, U.token_spans(text, "word"), r'"[^"]*"')
    assert words.tolist() == [0, 1, 1, 0]


# ---------------------------------------------------------------- runs of every cell and task


def _classify_config(d: Path) -> Path:
    rng = random.Random(3)
    lines = []
    for _ in range(40):
        first = rng.choice("XY")
        text = first + "".join(rng.choice("ab()") for _ in range(rng.randint(4, 11)))
        lines.append(json.dumps({"text": text, "label": first.lower()}))
    (d / "ex.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    body = {
        "task": "classify",
        "vocab": "auto",
        "labels": "auto",
        "sequence_length": 12,
        "model": {"units": 4},
        "data": {"sequences_file": "ex.jsonl"},
        "train": {"epochs": 3, "batch_size": 8},
    }
    (d / "c.yaml").write_text(json.dumps(body), encoding="utf-8")
    return d / "c.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, runner) -> dict[tuple[str, str], Path]:
    d = tmp_path_factory.mktemp("units")
    classify_cfg = _classify_config(d)
    out: dict[tuple[str, str], Path] = {}
    for cell in STATES:
        for task, cfg, epochs in (("next", HELLO, "20"), ("classify", classify_cfg, "3")):
            run = d / f"{task}-{cell}"
            run_json(
                runner,
                "train",
                cfg,
                "--out",
                run,
                "--set",
                f"model.cell={cell}",
                "--set",
                f"train.epochs={epochs}",
            )
            out[task, cell] = run
    return out


def _inspected(runner, run: Path, text: str) -> dict[str, np.ndarray]:
    """Every state and gate per step from `inspect --gates --json`: another path to the values."""
    steps = run_json(runner, "inspect", run, "--gates", "--input", text)["steps"][0]
    keys = [k for k in steps[0] if k != "token" and steps[0][k] is not None]
    return {k: np.array([s[k] for s in steps]) for k in keys}


@pytest.mark.parametrize("task", ["next", "classify"])
@pytest.mark.parametrize("cell", list(STATES))
def test_every_state_of_every_cell_is_scored_as_np_corrcoef_would(
    runner, trained, tmp_path, task, cell
) -> None:
    run = trained[task, cell]
    text = "hellohelloolleh" if task == "next" else "X(a(b))a(()Ya"
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    feature = U.column_feature(text, U.token_spans(text, "char")) if task == "next" else None
    if feature is None:
        feature = U.depth_feature(list(text), "(", ")")
        args = ["--depth", "(", ")"]
    else:
        args = ["--column"]
    doc = run_json(runner, "units", run, "--text", tmp_path / "t.txt", *args, "--top", "1000")
    units = json.loads((run / "config.yaml").read_text(encoding="utf-8").split("units:")[1].split()[0])
    assert {row["state"] for row in doc["units"]} == STATES[cell]
    assert len(doc["units"]) == units * len(STATES[cell])
    assert doc["metric"] == "correlation" and doc["tokens"] == len(text)
    values = _inspected(runner, run, text)
    for row in doc["units"]:
        trace = values[row["state"]][:, row["unit"]]
        expected = 0.0 if np.ptp(trace) == 0 else np.corrcoef(trace, feature)[0, 1]
        assert row["score"] == pytest.approx(expected, abs=1e-4), row
    scores = [abs(row["score"]) for row in doc["units"]]
    assert scores == sorted(scores, reverse=True)


def test_label_on_a_classifier_scores_the_steps_after_the_first(runner, trained, tmp_path) -> None:
    run = trained["classify", "lstm"]
    lines = [
        '{"text": "Xab()", "label": "x"}',
        '{"text": "Yba", "label": "y"}',
        '{"text": "Xa", "label": "x"}',
    ]
    (tmp_path / "l.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    doc = run_json(runner, "units", run, "--text", tmp_path / "l.jsonl", "--label", "--top", "1000")
    assert doc["feature"]["kind"] == "label" and doc["feature"]["labels"] == ["x", "y"]
    assert doc["sequences"] == 3 and doc["tokens"] == 4 + 2 + 1  # every step but the first
    assert doc["steps"] == {"start": 1, "stop": None}
    label = np.array([0, 0, 0, 0, 1, 1, 0], float)
    values = {
        text: _inspected(runner, run, text) for text in ("Xab()", "Yba", "Xa")
    }  # states after each example's first token, stacked as units does
    top = doc["units"][0]
    trace = np.concatenate([values[t][top["state"]][1:, top["unit"]] for t in ("Xab()", "Yba", "Xa")])
    assert top["score"] == pytest.approx(np.corrcoef(trace, label)[0, 1], abs=1e-4)
    every = run_json(runner, "units", run, "--text", tmp_path / "l.jsonl", "--label", "--steps", ":")
    assert every["tokens"] == 5 + 3 + 2


def test_match_scores_by_auc_as_counting_every_pair_would(runner, trained, tmp_path) -> None:
    text = "hellohelloolleh"
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    run = trained["next", "lstm"]
    doc = run_json(runner, "units", run, "--text", tmp_path / "t.txt", "--match", "l+", "--top", "1000")
    assert doc["metric"] == "auc" and doc["positives"] == 6 and doc["feature"]["type"] == "yes/no"
    inside = np.array([ch == "l" for ch in text])
    values = _inspected(runner, run, text)
    for row in doc["units"]:
        v = values[row["state"]][:, row["unit"]]
        pairs = [(p > n) + 0.5 * (p == n) for p in v[inside] for n in v[~inside]]
        assert row["score"] == pytest.approx(np.mean(pairs), abs=1e-6), row
    assert len(doc["units"]) == 12
    assert len(run_json(runner, "units", run, "--text", tmp_path / "t.txt", "--match", "l+")["units"]) == 10


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "expected exactly one feature (--match, --depth, --column or --label), got none"),
        (["--column", "--match", "l"], "got --match, --column"),
        (["--match", "("], "--match '(': expected a regular expression, got one that does not compile"),
        (
            ["--column", "--max-tokens", "5"],
            "expected at most 5 tokens (--max-tokens), got 15: score a slice (head -c 5",
        ),
        (["--label"], "--label: expected a classify run (task: classify), got task: next_token"),
        (["--depth", "h", "h"], "--depth: expected two different tokens OPEN CLOSE, got 'h' twice"),
        (["--match", "z"], "holds at no token: a yes/no feature needs both"),
        (["--depth", "(", ")"], "is 0 at every token scored: a constant has nothing to correlate with"),
        (["--column", "--layer", "3"], "--layer: expected 0..0, got 3"),
        (["--column", "--steps", "9:x"], "--steps: expected START:STOP"),
        (["--column", "--steps", "20:"], "--steps 20:: expected at least one step of the text, got none"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(runner, trained, tmp_path, args, fragment) -> None:
    (tmp_path / "t.txt").write_text("hellohelloolleh", encoding="utf-8")
    result = invoke(runner, "units", trained["next", "lstm"], "--text", tmp_path / "t.txt", *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and result.stderr.startswith("Error: ")
    assert result.stdout == ""


def test_a_token_outside_the_vocabulary_and_a_missing_file_name_the_file(runner, trained, tmp_path) -> None:
    (tmp_path / "t.txt").write_text("hello\n", encoding="utf-8")
    result = invoke(runner, "units", trained["next", "lstm"], "--text", tmp_path / "t.txt", "--column")
    assert (
        result.exit_code == 2
        and f"{tmp_path / 't.txt'}: token 5: expected tokens from the vocabulary" in result.stderr
    )
    result = invoke(runner, "units", trained["next", "lstm"], "--text", tmp_path / "none.txt", "--column")
    assert result.exit_code == 2 and "none.txt: --text: no such file" in result.stderr


def test_a_json_lines_file_without_label_on_a_classifier_says_what_label_reads(
    runner, trained, tmp_path
) -> None:
    (tmp_path / "l.jsonl").write_text('{"text": "Xab", "label": "x"}\n', encoding="utf-8")
    result = invoke(runner, "units", trained["classify", "lstm"], "--text", tmp_path / "l.jsonl", "--column")
    assert result.exit_code == 2
    assert "--text is read as plain text: --label reads a JSON Lines file" in result.stderr


def test_units_imports_no_tensorflow(trained, tmp_path) -> None:
    (tmp_path / "t.txt").write_text("hellohelloolleh", encoding="utf-8")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from lstmcli.cli import app\n"
        f"res = CliRunner().invoke(app, ['units', {str(trained['next', 'lstm'])!r}, '--text', "
        f"{str(tmp_path / 't.txt')!r}, '--column', '--json'])\n"
        "assert res.exit_code == 0, res.output\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"


# ---------------------------------------------------------------- what a person sees


def _in_a_terminal(*args: object, env: dict[str, str]) -> str:
    """Run the console script with stdout on a pseudo-terminal (as a person at a shell sees it)."""
    exe = str(Path(sys.executable).parent / "lstmcli")
    main, child = pty.openpty()
    full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    full.update(env)
    chunks = []
    with subprocess.Popen([exe, *map(str, args)], stdout=child, stderr=subprocess.PIPE, env=full) as proc:
        os.close(child)
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        os.close(main)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0 and err == "", err
    return b"".join(chunks).decode("utf-8")


def test_the_top_units_trace_is_a_strip_of_coloured_tokens_in_a_terminal(trained, tmp_path) -> None:
    text = "hellohelloolleh"
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    args = ("units", trained["next", "lstm"], "--text", tmp_path / "t.txt", "--column")
    shown = _in_a_terminal(*args, env={"TERM": "xterm-256color", "COLORTERM": "truecolor"})
    # One background colour per token of the strip (the last line), in the token's own colour.
    strip = shown.rstrip().splitlines()[-1]
    backgrounds = strip.count("\x1b[") - strip.count("\x1b[0m")
    assert backgrounds >= len(text) and "48;2;" in strip
    plain = _in_a_terminal(*args, env={"TERM": "xterm-256color", "NO_COLOR": "1"})
    assert "48;2;" not in plain and text in plain.splitlines()[-1]
    piped = lstmcli(*args)
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout and piped.stderr == ""
    assert piped.stdout.rstrip().splitlines()[-1] == text


# ---------------------------------------------------------------- the demonstrations (slow)


def test_shipped_brackets_data_is_what_the_seeded_generator_writes(tmp_path) -> None:
    out = tmp_path / "again.txt"
    gen = ROOT / "configs" / "data" / "brackets.py"
    subprocess.run([sys.executable, str(gen), "--out", str(out)], check=True, capture_output=True, timeout=60)
    assert out.read_bytes() == (ROOT / "configs" / "data" / "brackets.txt").read_bytes()
    depth = U.depth_feature(list(out.read_text(encoding="utf-8")), "(", ")")
    assert depth.min() == 0 and depth.max() == 6 and depth[-1] == 0


@pytest.mark.slow
def test_brackets_a_unit_tracks_the_nesting_depth(runner, tmp_path) -> None:
    run = tmp_path / "brackets"
    run_json(runner, "train", ROOT / "configs" / "brackets.yaml", "--out", run)
    held_out = tmp_path / "held-out.txt"  # a text the model never saw, by another seed
    gen = ROOT / "configs" / "data" / "brackets.py"
    subprocess.run(
        [sys.executable, str(gen), "--chars", "5000", "--seed", "7", "--out", str(held_out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    doc = run_json(runner, "units", run, "--text", held_out, "--depth", "(", ")")
    assert abs(doc["units"][0]["score"]) >= 0.8, doc["units"][:3]


@pytest.mark.slow
def test_long_lag_units_hold_the_class_across_the_gap(runner, tmp_path) -> None:
    run = tmp_path / "long-lag"
    run_json(runner, "train", ROOT / "configs" / "long-lag.yaml", "--out", run)
    fresh = tmp_path / "fresh.jsonl"  # 60 examples the model never saw, by another seed
    gen = ROOT / "configs" / "data" / "long_lag.py"
    subprocess.run(
        [sys.executable, str(gen), "--examples", "60", "--seed", "99", "--out", str(fresh)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    doc = run_json(runner, "units", run, "--text", fresh, "--label")
    assert doc["tokens"] == 60 * 1000  # every step of the gap, none of the class tokens
    assert abs(doc["units"][0]["score"]) >= 0.9, doc["units"][:3]
