"""Every command at a real terminal (a pty, TERM=xterm-256color, 80 and 120 columns), as a person
sees it: exit codes, no internal error or traceback, and what the screen shows (issue 17)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import terminal
from conftest import HELLO, ROOT

WIDTHS = [80, 120]


def joined(screen: str) -> str:
    """The screen's lines as one, for lines the terminal wrapped (a long path)."""
    return screen.replace("\n", "")


def nospace(text: str) -> str:
    """Text without its spaces and line breaks, for a line the terminal wrapped mid-word."""
    return "".join(text.split())


def clean(t: terminal.Term, code: int = 0) -> str:
    """The screen of a command that ended with `code` and no internal error; returns the screen."""
    screen = t.screen
    assert t.code == code, screen
    assert "internal error" not in t.text and "Traceback" not in t.text, t.text
    for line in screen.splitlines():
        assert len(line) <= t.cols, line
    return screen


@pytest.fixture(scope="module", params=[80, pytest.param(120, marks=pytest.mark.slow)])
def trained(request, tmp_path_factory) -> tuple[terminal.Term, Path]:
    """The README's first command, hello trained at a terminal `param` columns wide."""
    out = tmp_path_factory.mktemp(f"pty{request.param}") / "hello"
    return terminal.run(["train", HELLO, "--out", out, "--force"], cols=request.param), out


def test_train_at_a_terminal_ends_with_its_metrics_and_no_bar(trained) -> None:
    # The progress bar crashed at every real terminal (KeyError 'rate'), exit 1.
    t, out = trained
    screen = clean(t)
    # What it drew while training: the epoch, the step, tokens/s, the time left, the loss.
    assert re.search(r"epoch \d+/300 .*step 1/1 · [\d,]+ tokens/s · [\d:]+ left · loss \d\.\d{4}", t.text)
    # At the end the bar is gone: the metrics table and the run directory, nothing else.
    assert not re.search(r"epoch \d", screen) and "tokens/s" not in screen, screen
    assert screen.splitlines()[0] == "final metrics"
    assert re.search(r"│ accuracy +│ 1\.0000 │", screen)
    assert joined(screen).endswith(f"run directory: {out}")
    assert t.escapes  # colours and a bar: it is a terminal


@pytest.fixture(scope="module")
def run_dir(hello_run) -> Path:
    """The session's one trained hello run (conftest), shared by every test that reads a run."""
    return hello_run


@pytest.mark.parametrize("cols", WIDTHS)
def test_predict(run_dir, cols) -> None:
    screen = clean(terminal.run(["predict", run_dir, "hell"], cols=cols))
    assert "next token after 'hell'" in screen
    assert re.search(r"│ +1 │ 'o' +│ +0\.9\d{3} │ █+", screen), screen


@pytest.mark.parametrize("cols", WIDTHS)
def test_inspect_shows_both_units(run_dir, cols) -> None:
    screen = clean(terminal.run(["inspect", run_dir], cols=cols))
    assert "LSTM layer 0 of 1 · 2 units" in screen
    assert "unit 0" in screen and "unit 1" in screen and "shown" not in screen
    assert "outputs == hidden state: yes" in screen


@pytest.mark.parametrize("cols", WIDTHS)
def test_inspect_gates_shows_both_units_of_hello(run_dir, cols) -> None:
    screen = clean(terminal.run(["inspect", run_dir, "--gates"], cols=cols))
    assert "units 0–0 of 2" not in screen and not re.search(r"\w…", screen), screen
    # Every gate and state of both units at step 0 of 'hello', with four digits.
    for seq in ("hello", "eolll", "lleel"):
        assert f"'{seq}': gates" in screen
    numbers = re.findall(r"-?\d\.\d{4}", screen)
    assert len(numbers) >= 3 * 5 * 2 * 6, screen  # sequences × steps × units × (i f g o c h)


@pytest.mark.slow  # a config's weights come from Keras: TensorFlow starts, twice
def test_inspect_gates_of_many_units_says_what_it_left_out(tmp_path) -> None:
    t = terminal.run(["inspect", HELLO, "--gates", "--set", "model.units=12"], cols=80)
    screen = clean(t)
    assert "units 0–7 of 12 shown: --units A:B for others" in screen
    assert not re.search(r"\w…", screen), screen
    paged = clean(terminal.run(["inspect", HELLO, "--gates", "--set", "model.units=12", "--units", "8:12"]))
    assert "units 8–11 of 12 shown" in paged


@pytest.mark.parametrize("cols", WIDTHS)
def test_runs_shows_name_status_epochs_and_loss_in_full(run_dir, cols) -> None:
    screen = clean(terminal.run(["runs", run_dir.parent], cols=cols))
    row = next(line for line in screen.splitlines() if line.startswith("│ hello"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[:3] == ["hello", "done", "300"], row
    assert re.fullmatch(r"0\.0\d{3}", cells[3]), row  # the loss, in full
    assert "…" not in screen
    if cols == 80:  # the rest is said, and --wide shows it
        assert "not shown:" in screen and "--wide" in screen
    wide = terminal.run(["runs", run_dir.parent, "--wide"], cols=cols)
    assert wide.code == 0 and "learning_rate" in wide.text and "not shown" not in wide.text
    assert max(len(line) for line in wide.text.splitlines()) > 80  # wider than the terminal: all of it


def test_runs_columns_grow_with_the_terminal(run_dir) -> None:
    def header(cols: int) -> list[str]:
        screen = clean(terminal.run(["runs", run_dir.parent], cols=cols))
        line = next(line for line in screen.splitlines() if line.startswith("┃"))
        return [c.strip() for c in line.strip("┃").split("┃")]

    narrow, wide = header(80), header(120)
    assert narrow[:4] == ["run", "status", "epochs", "loss"]
    assert len(wide) > len(narrow) and wide[: len(narrow)] == narrow


def test_runs_json_is_unchanged(run_dir) -> None:
    done = subprocess.run(
        [terminal.LSTMCLI, "runs", run_dir.parent, "--json"], capture_output=True, text=True, check=True
    )
    run = json.loads(done.stdout)["runs"][0]
    assert set(run) == {"name", "path", "started", "config", "metrics", "running", "pid"}


@pytest.mark.parametrize("cols", WIDTHS)
def test_compare(run_dir, cols) -> None:
    screen = clean(terminal.run(["compare", run_dir, run_dir], cols=cols))
    assert "config keys are the same" in screen and "metrics" in screen


@pytest.mark.parametrize(
    ("args", "seen"),
    [
        (["config", "show", HELLO], "units: 2"),
        (["config", "validate", HELLO], f"{HELLO}: ok"),
        (["config", "reference"], "# Config reference"),
        (["config", "schema"], '"$schema"'),
        (["config", "init", "-"], "vocab:"),
        (["--help"], "Train LSTM sequence models"),
        (["config"], "Show, validate, describe and start configs."),
    ],
)
@pytest.mark.parametrize("cols", WIDTHS)
def test_config_commands(args, seen, cols) -> None:
    code = 2 if args == ["config"] else 0
    assert seen in clean(terminal.run(args, cols=cols), code)


def test_config_init_writes_a_file(tmp_path) -> None:
    screen = clean(terminal.run(["config", "init", "my.yaml"], cwd=tmp_path))
    assert screen == "my.yaml" and (tmp_path / "my.yaml").is_file()


@pytest.mark.parametrize("cols", WIDTHS)
def test_evaluate(run_dir, tmp_path, cols) -> None:
    held = tmp_path / "held.txt"
    held.write_text("hellohello")
    screen = clean(terminal.run(["evaluate", run_dir, "--data", held], cols=cols))
    assert f"evaluate: {held}" in screen or "evaluate:" in screen
    assert re.search(r"│ test_loss +│ +\d\.\d{4} │", screen), screen


def test_a_user_error_at_a_terminal_is_one_line(tmp_path) -> None:
    t = terminal.run(["inspect", tmp_path / "nope"])
    screen = clean(t, 2)
    # One line written (the terminal may wrap it), and nothing else.
    assert screen.startswith("Error: ") and len(t.text.strip().splitlines()) == 1, t.text
    assert nospace(screen).endswith(nospace("got no such file or directory"))


@pytest.mark.parametrize("cols", [80, pytest.param(120, marks=pytest.mark.slow)])
def test_every_help_reads_at_the_terminal(cols) -> None:
    commands = [[], ["train"], ["inspect"], ["predict"], ["evaluate"], ["sweep"], ["export"], ["runs"]]
    commands += [["compare"], ["config", "show"], ["config", "validate"], ["config", "init"]]
    for words in commands:
        screen = clean(terminal.run([*words, "--help"], cols=cols))
        assert "<bool>" not in screen, words
        assert "Usage: lstmcli" in screen
        # A description breaks a line only where the terminal wraps it or a sentence ends:
        # a line followed by the same sentence's next word had no room for that word.
        # (The description above the panels, which spans the width; the panels' columns are Typer's.)
        lines = [line.strip() for line in screen.split("╭")[0].splitlines()]
        for line, after in zip(lines, lines[1:], strict=False):
            word = after.split(" ")[0] if after else ""
            if word[:1].islower() and not line.endswith((".", ":", ";")):
                assert len(line) + len(word) + 3 > cols, (words, line, after)


# ---------------------------------------------------------------- long work, Ctrl-C, resize


TEXT = ROOT / "configs" / "text.yaml"


@pytest.mark.slow
def test_train_mid_epoch_validation_and_ctrl_c(tmp_path) -> None:
    out = tmp_path / "text"
    s = terminal.Session(["train", TEXT, "--out", out, "--set", "train.batch_size=4"], cols=80)
    s.expect(r"step [1-9]\d*/\d+ · [\d,]+ tokens/s")
    s.drain(1.0)
    mid = s.screen()
    line = mid.splitlines()[-1]
    assert re.fullmatch(
        r"epoch 1/15 [━╸╺ ]+ step \d+/\d+ · [\d,]+ tokens/s · [\d:]+ left · loss \d\.\d{4}", line
    ), mid
    s.expect(r"epoch 1/15 validation [^\r\n]*batch \d+/\d+")  # its own phase
    s.expect(r"epoch 2/15 ")
    s.interrupt()
    t = s.finish()
    screen = clean(t, 130)
    # The bar is gone; one line says where the checkpoint is and the exact command that resumes.
    assert "tokens/s" not in screen, screen
    text = nospace(screen)  # the one line, as the terminal wrapped it
    assert text.startswith(nospace("Error: stopped by SIGINT at epoch 2; checkpoint saved in")), screen
    assert nospace(f"{out / 'model.keras'} (1 epoch done and ") in text, screen
    assert text.endswith(nospace(f"Resume with: lstmcli train --resume {out}")), screen
    state = json.loads((out / "checkpoint.json").read_text())
    assert state["epoch"] == 1 and state["step"] > 0


@pytest.mark.slow
def test_a_resized_terminal_keeps_the_output_whole(tmp_path) -> None:
    out = tmp_path / "text"
    s = terminal.Session(
        ["train", TEXT, "--out", out, "--set", "train.batch_size=8", "--set", "train.epochs=2"], cols=120
    )
    s.expect(r"step [1-9]\d*/\d+")
    s.resize(80)
    s.expect(r"epoch 2/2")
    s.resize(100)
    t = s.finish()
    screen = clean(t)
    lines = screen.splitlines()
    assert joined(screen).endswith(f"run directory: {out}")
    table = lines[lines.index("final metrics") :]
    assert all("tokens/s" not in line for line in table), screen
    assert any(re.match(r"│ val_loss +│ \d\.\d{4} │", line) for line in table), screen


# ---------------------------------------------------------------- NO_COLOR, TERM=dumb, --quiet, pipes


COLOUR = re.compile(rb"\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7])(;[0-9;]*)?m")


def test_no_color_has_no_colour_at_a_terminal(run_dir) -> None:
    plain = terminal.run(["inspect", run_dir, "--gates"], env={"NO_COLOR": "1"})
    assert plain.code == 0 and not COLOUR.search(plain.raw), plain.raw[:400]
    coloured = terminal.run(["inspect", run_dir, "--gates"])
    assert COLOUR.search(coloured.raw)  # the same command colours by default


def test_term_dumb_has_no_escape_codes_and_no_bar(tmp_path) -> None:
    out = tmp_path / "hello"
    t = terminal.run(["train", HELLO, "--out", out, "--set", "train.epochs=20"], env={"TERM": "dumb"})
    assert joined(clean(t)).endswith(f"run directory: {out}")
    assert not t.escapes, t.raw[:400]
    assert "tokens/s" not in t.text  # no bar redrawn in place


# A third training at a pty (~12 s quiet): CI's slow run; test_claims checks --quiet on pipes by default.
@pytest.mark.slow
def test_quiet_train_at_a_terminal_prints_only_the_results(tmp_path) -> None:
    out = tmp_path / "hello"
    t = terminal.run(["train", HELLO, "--out", out, "--set", "train.epochs=20", "--quiet"])
    screen = clean(t)
    assert "tokens/s" not in t.text and not re.search(r"epoch \d", t.text)  # no progress
    assert "run directory:" not in screen and joined(screen).endswith(str(out))


def test_piped_output_has_no_escape_codes(run_dir) -> None:
    # A real pipe, not a pty: what a script or `| less` gets.
    for args in (["inspect", run_dir, "--gates"], ["runs", run_dir.parent], ["predict", run_dir, "hell"]):
        done = subprocess.run([terminal.LSTMCLI, *map(str, args)], capture_output=True)
        assert done.returncode == 0
        assert b"\x1b" not in done.stdout and b"\x1b" not in done.stderr, args


# ---------------------------------------------------------------- slow work shows it is working


@pytest.mark.slow
def test_evaluate_on_a_large_file_shows_a_spinner_then_erases_it(run_dir, tmp_path) -> None:
    big = tmp_path / "big.txt"
    # 10 M tokens: ~6 s of work on this machine when quiet, well past the spinner's 1 s delay (2 M
    # took ~1.5 s, and a CI run once finished it before the spinner was due).
    big.write_text("hello" * 2_000_000)
    t = terminal.run(["evaluate", run_dir, "--data", big])
    screen = clean(t)
    assert nospace(f"evaluating {run_dir} on {big}…") in nospace(t.text)  # shown while it worked
    assert "evaluating" not in screen  # and gone at the end
    assert re.search(r"│ test_loss +│ +\d+\.\d{4} │", screen), screen
    quiet = terminal.run(["evaluate", run_dir, "--data", big, "--quiet"])
    assert quiet.code == 0 and "evaluating" not in quiet.text


@pytest.mark.slow
def test_export_verify_shows_a_spinner(run_dir, tmp_path) -> None:
    out = tmp_path / "hello.onnx"
    t = terminal.run(["export", run_dir, "--format", "onnx", "--out", out, "--verify"], timeout=600)
    screen = clean(t)
    assert nospace(f"exporting {run_dir} as onnx, then verifying it…") in nospace(t.text)
    assert "exporting" not in screen.split("exported")[-1]
    assert re.search(r"verify +│ max \|Δp\| [\d.e+-]+ on \d+ sequences \(onnxruntime\)", screen), screen
    assert nospace(str(out)) in nospace(screen)  # the path in full, folded, not cut


@pytest.mark.slow
def test_sweep_at_a_terminal(tmp_path) -> None:
    # The sweep's own display is helper sweepw's (issue 17); here: it runs at a terminal.
    args = ["sweep", HELLO, "--set", "model.units=2,3", "--set", "train.epochs=5", "--out", tmp_path / "sw"]
    screen = clean(terminal.run(args, cols=80))
    assert nospace(screen).endswith(nospace(f"sweep folder: {tmp_path / 'sw'}")), screen
    rows = [line for line in screen.splitlines() if line.startswith("│")]  # the table's, not the progress
    assert "(objective loss:min)" in screen and sum(" finished " in r for r in rows) == 2, screen


@pytest.mark.slow
def test_ctrl_c_in_the_first_epoch_leaves_a_history_header(tmp_path) -> None:
    out = tmp_path / "text"
    s = terminal.Session(["train", TEXT, "--out", out, "--set", "train.batch_size=2"], cols=80)
    s.expect(r"step [1-9]\d*/\d+ ")
    s.interrupt()
    t = s.finish()
    text = " ".join(clean(t, 130).split())
    assert "stopped by SIGINT at epoch 1; checkpoint saved in" in text and "0 epochs done and" in text
    assert (out / "history.csv").read_text().splitlines() == [
        "epoch,accuracy,loss,val_accuracy,val_loss,seconds,tokens_per_second,learning_rate"
    ]
