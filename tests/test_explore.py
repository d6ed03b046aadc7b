"""`lstmcli explore`: the page's data against the NumPy engine (every cell, both tasks), its errors,
its safety with hostile text, and the page itself in headless Debian chromium (Playwright)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import invoke, lstmcli
from lstmcli.analysis import explore as explore_mod
from lstmcli.analysis import inspection
from lstmcli.render import explore_page

HOSTILE = (
    '<script>alert("x")</script> & \'q\' "dq" </script><!-- <img src=x onerror="window.__pwned=1">'
    "\u2028line\u2029para \ufffd end. <img/src='x'onerror='window.__pwned=2'> "
)
CORPUS = HOSTILE * 5 + "(a(b)c)[d]{e} the quick brown fox.\n" * 4
TOY_LABELS = {"a": "pos", "b": "neg", "c": "meh"}


def _train(runner, d: Path, body: dict[str, Any], name: str) -> Path:
    cfg = d / f"{name}.yaml"
    cfg.write_text(json.dumps(body), encoding="utf-8")  # JSON is YAML
    out = d / name
    result = invoke(runner, "train", cfg, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, runner) -> dict[str, Path]:
    """One tiny trained run per case, shared by every test here: an LSTM and a two-layer GRU and a
    SimpleRNN next-token model on the hostile corpus, and an LSTM classifier."""
    d = tmp_path_factory.mktemp("explore")
    (d / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    train = {"epochs": 1, "batch_size": 32, "learning_rate": 0.01}
    base = {"vocab": "auto", "sequence_length": 12, "seed": 3, "data": {"text_file": "corpus.txt"}}
    out = {
        "lstm": _train(runner, d, {**base, "model": {"units": 8}, "train": train}, "lstm"),
        "gru": _train(
            runner, d, {**base, "model": {"cell": "gru", "units": 6, "num_layers": 2}, "train": train}, "gru"
        ),
        "word": _train(
            runner, d, {**base, "data": {"text_file": "corpus.txt", "tokens": "word"}, "train": train}, "word"
        ),
        "simple_rnn": _train(
            runner, d, {**base, "model": {"cell": "simple_rnn", "units": 5}, "train": train}, "rnn"
        ),
    }
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(60):
        first = str(rng.choice(list(TOY_LABELS)))
        text = first + "".join(rng.choice(list("xyz")) for _ in range(int(rng.integers(0, 8))))
        lines.append(json.dumps({"text": text, "label": TOY_LABELS[first]}))
    (d / "toy.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    classify = {
        "task": "classify",
        "vocab": "auto",
        "labels": "auto",
        "sequence_length": 10,
        "model": {"units": 4},
        "data": {"sequences_file": "toy.jsonl"},
        "train": {"epochs": 1, "batch_size": 16},
    }
    out["classify"] = _train(runner, d, classify, "classify")
    out["corpus"] = d / "corpus.txt"
    return out


def page_document(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="explore-data">(.*?)</script>', html, re.S)
    assert m, "no data element in the page"
    doc: dict[str, Any] = json.loads(m.group(1))
    return doc


def shown_values(doc: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each array as the page shows it, (units, time): decoded exactly as its script does."""
    out = {}
    for a in doc["arrays"]:
        codes = np.frombuffer(base64.b64decode(a["codes"]), np.uint8).reshape(doc["units"], doc["steps"])
        out[a["name"]] = explore_mod.dequantise(
            codes, np.asarray(a["lo"], np.float32), np.asarray(a["step"], np.float32)
        )
    return out


def half_steps(doc: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        a["name"]: np.asarray(a["step"], np.float32).astype(np.float64)[:, None] / 2 for a in doc["arrays"]
    }


def engine_steps(run: Path, text: str, layer: int = 0) -> list[dict[str, Any]]:
    """Every gate and state per step from `inspect --gates`'s path (the one `--verify` checks)."""
    result = inspection.inspect(inspection.resolve_target(str(run)), [text], layer=layer, gates=True)
    assert result.steps is not None
    return list(result.steps[0])


def explore_json(runner, run: Path, out: Path, *args: str) -> dict[str, Any]:
    result = invoke(runner, "explore", run, "--out", out, *args, "--json")
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize(("case", "layer"), [("lstm", 0), ("gru", 0), ("gru", 1), ("simple_rnn", 0)])
def test_page_holds_the_engines_values_for_every_cell(runs, runner, tmp_path, case: str, layer: int) -> None:
    text = CORPUS[:150]
    out = tmp_path / "p.html"
    summary = explore_json(runner, runs[case], out, "--input", text, "--layer", str(layer))
    html = out.read_text(encoding="utf-8")
    assert summary["page"] == str(out) and summary["bytes"] == len(html.encode("utf-8"))
    assert (summary["tokens"], summary["layer"], summary["cell"]) == (150, layer, case)
    from lstmcli.model.cell import CELLS

    names = [n for n, _ in CELLS[case].steps]
    assert sorted(summary["arrays"]) == sorted(names) and summary["arrays"][0] == "h"
    doc = page_document(html)
    shown, half = shown_values(doc), half_steps(doc)
    steps = engine_steps(runs[case], text, layer)
    for name in names:
        exact = np.array([s[name] for s in steps], dtype=np.float64).T  # (units, time)
        err = np.abs(shown[name] - exact)
        assert np.all(err <= half[name] + 1e-6), name
        assert summary["quantisation"]["max_abs_error"][name] == pytest.approx(err.max(), abs=1e-9)
    gates = [n for n in names if n not in ("h", "c", "g")]
    assert doc["saturation"]["gates"] == gates  # lstm: i, f, o; gru: z, r; simple_rnn: none
    for k, g in enumerate(gates):
        exact = np.array([s[g] for s in steps])
        assert np.allclose(doc["saturation"]["left"][k], (exact < 0.1).mean(axis=0))
        assert np.allclose(doc["saturation"]["right"][k], (exact > 0.9).mean(axis=0))


def test_next_token_page_holds_each_steps_top_5(runs, runner, tmp_path) -> None:
    from lstmcli.model.engine import NumpyEngine

    run = inspection.resolve_target(str(runs["lstm"]))
    assert run.run is not None
    eng = NumpyEngine.from_file(run.cfg, run.run.model_path)
    text = CORPUS[:60]
    explore_json(runner, runs["lstm"], tmp_path / "p.html", "--input", text)
    doc = page_document((tmp_path / "p.html").read_text(encoding="utf-8"))
    nxt = doc["next"]
    ids = np.frombuffer(base64.b64decode(nxt["ids"]), np.uint16).reshape(-1, 5)
    probs = np.frombuffer(base64.b64decode(nxt["probs"]), np.uint16).reshape(-1, 5) / 65535
    seq = np.array([nxt["vocab"].index(ch) for ch in text])
    for t in (0, 7, 59):
        p = eng.next_probabilities(seq[: t + 1])
        top = np.argsort(-p, kind="stable")[:5]
        assert list(ids[t]) == list(top)
        assert np.allclose(probs[t], p[top], atol=1 / 65535)


def test_classifier_page_holds_the_label_probabilities_of_the_whole_input(runs, runner, tmp_path) -> None:
    from lstmcli.tasks import classify

    summary = explore_json(runner, runs["classify"], tmp_path / "c.html", "--input", "axyzzy")
    assert (summary["task"], summary["tokens"]) == ("classify", 6)
    doc = page_document((tmp_path / "c.html").read_text(encoding="utf-8"))
    target = inspection.resolve_target(str(runs["classify"]))
    expected = (
        classify.predict_texts(target, inspection.make_engine(target), ["axyzzy"], top_k=3).items[0].labels
    )
    got = dict(zip(doc["next"]["labels"], doc["next"]["probs"], strict=True))
    assert doc["next"]["kind"] == "labels" and len(got) == 3
    for label, p in expected:
        assert got[label] == pytest.approx(p, abs=1e-6)


@given(st.text(alphabet=st.characters(codec="utf-8")))
@settings(max_examples=300, deadline=None)
def test_pieces_are_the_text_and_their_tokens_the_tokenizers(text: str) -> None:
    from lstmcli.tokens import tokenize

    for mode in ("char", "word"):
        pieces = explore_mod.pieces_of(text, mode)
        assert "".join(p for p, _ in pieces) == text
        assert [p for p, tok in pieces if tok] == tokenize(text, mode)


def test_word_runs_keep_the_whitespace_between_tokens_as_text() -> None:
    text = "the  keeper\n\tsaw\u00a0it "
    pieces = explore_mod.pieces_of(text, "word")
    assert "".join(p for p, _ in pieces) == text
    assert [p for p, tok in pieces if tok] == text.split()


@pytest.mark.parametrize(("case", "tokens"), [("lstm", len(CORPUS)), ("word", len(CORPUS.split()))])
def test_too_long_a_text_is_refused_with_a_slice_command_that_works(
    runs, tmp_path, case: str, tokens: int
) -> None:
    page = tmp_path / "p.html"
    done = lstmcli("explore", runs[case], "--text", runs["corpus"], "--out", page, "--max-tokens", "20")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {runs['corpus']}: expected at most 20 tokens")
    assert f"got {tokens}:" in lines[0] and lines[0].endswith("or raise --max-tokens")
    assert not page.exists() and not list(tmp_path.iterdir())
    # the slice it suggests, run as shown, is accepted
    m = re.search(r"explore a slice \((.*), then --text slice.txt\)", lines[0])
    assert m, lines[0]
    subprocess.run(["bash", "-o", "pipefail", "-c", m.group(1)], cwd=tmp_path, check=True, timeout=60)
    done = lstmcli(
        "explore", runs[case], "--text", tmp_path / "slice.txt", "--out", page, "--max-tokens", "20"
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "ab", "--text", "x.txt"], "--text/--input: expected exactly one"),
        ([], "--text/--input: expected exactly one"),
        (["--text", "missing.txt"], "missing.txt: --text: no such file"),
        (["--input", "ab", "--layer", "1"], "--layer: expected 0..0, got 1"),
        (["--input", "ab", "--max-tokens", "0"], "--max-tokens: expected a positive integer, got 0"),
        (["--input", "a\u00e9b"], "--input: expected tokens from the run's vocabulary"),
        (["--input", "   "], None),  # spaces are tokens of this corpus: fine
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    runs, runner, tmp_path, args: list[str], message: str | None
) -> None:
    result = invoke(runner, "explore", runs["lstm"], "--out", tmp_path / "p.html", *args)
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert result.output.count("Error:") == 1 and message in result.output
    assert not (tmp_path / "p.html").exists()


def test_out_must_be_a_file_and_a_run_directory_is_required(runs, runner, tmp_path) -> None:
    result = invoke(runner, "explore", runs["lstm"], "--out", tmp_path, "--input", "ab")
    assert result.exit_code == 2 and "--out: expected a file name" in result.output
    result = invoke(runner, "explore", tmp_path, "--out", tmp_path / "p.html", "--input", "ab")
    assert result.exit_code == 2 and "Error:" in result.output


def test_explore_imports_no_tensorflow(runs, tmp_path) -> None:
    code = (
        "import sys\n"
        "from lstmcli.cli import main\n"
        f"sys.argv = ['lstmcli', 'explore', {str(runs['lstm'])!r}, '--input', 'abc <', '--out', "
        f"{str(tmp_path / 'p.html')!r}, '--quiet']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "p.html").exists() and done.stderr == ""


# ---------------------------------------------------------------- data, never markup


@given(st.text(alphabet=st.characters(codec=None, categories=None)))
@settings(max_examples=300, deadline=None)
def test_embedded_json_cannot_end_its_script_element_and_reads_back_the_same(s: str) -> None:
    data = {"pieces": [s, "</script>" + s], "run": s}
    out = explore_page.embed_json(data)
    assert not set(out) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(out) == data


def test_lone_surrogates_become_replacement_characters_and_pairs_join(tmp_path) -> None:
    assert explore_mod.clean_text("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    assert explore_mod.clean_text("\ud83d\ude00") == "\U0001f600"
    f = tmp_path / "bad.txt"
    f.write_bytes(b"ok \xed\xa0\x80 \xff <")  # an encoded lone surrogate, a stray byte
    text, notes = explore_mod.read_text(f)
    assert text == "ok \ufffd\ufffd\ufffd \ufffd <"
    assert notes == [f"{f}: invalid UTF-8 (first at byte 3) shown as U+FFFD"]


def test_the_template_ships_with_the_package() -> None:
    import tomllib

    tpl = explore_page.template()
    assert tpl.count(explore_page.MARKER) == 1
    root = Path(__file__).resolve().parents[1]
    package_data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(
        Path("lstmcli", "render", "templates", "explore.html").match(f"lstmcli/render/{g}")
        for g in package_data["lstmcli.render"]
    )
    # nothing the page loads comes from elsewhere
    assert not re.search(r"""(src|href)\s*=|url\(|@import|https?://""", tpl)
    assert "default-src 'none'" in tpl


# ---------------------------------------------------------------- in the browser

CHROMIUM = "/usr/bin/chromium"  # Debian's; nothing downloads a browser (.ci/run installs it)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Opened:
    """A page, and everything it said that a working page never says."""

    def __init__(self, browser, path: Path) -> None:
        self.problems: list[str] = []
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.on(
            "request",
            lambda r: None if r.url.startswith("file:") else self.problems.append(f"request {r.url}"),
        )
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("window.exploreReady", timeout=30_000)

    def tip(self, t: int) -> tuple[dict[str, float], list[tuple[str, str]]]:
        self.page.hover(f"#text .tok[data-t='{t}']")
        values = self.page.eval_on_selector_all(
            "#tip-values tr", "rs => rs.map(r => [r.dataset.k, r.querySelector('.v').textContent])"
        )
        nxt = self.page.eval_on_selector_all(
            "#tip-next tr",
            "rs => rs.map(r => [r.querySelector('.tok').textContent, r.querySelector('.p').textContent])",
        )
        return {k: float(v) for k, v in values}, [(a, b) for a, b in nxt]

    def close(self) -> None:
        self.page.close()
        assert self.problems == []


@pytest.fixture
def opened(browser):
    pages: list[Opened] = []

    def open_(path: Path) -> Opened:
        pages.append(Opened(browser, path))
        return pages[-1]

    yield open_
    for p in pages:
        p.close()


@pytest.fixture(scope="module")
def lstm_page(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pages") / "lstm.html"
    done = lstmcli("explore", runs["lstm"], "--text", runs["corpus"], "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    return out


def test_browser_hover_shows_the_engines_values_and_top_5(runs, lstm_page, opened) -> None:
    from lstmcli.model.engine import NumpyEngine

    page = opened(lstm_page)
    doc = page_document(lstm_page.read_text(encoding="utf-8"))
    half = half_steps(doc)
    steps = engine_steps(runs["lstm"], CORPUS)
    target = inspection.resolve_target(str(runs["lstm"]))
    assert target.run is not None
    eng = NumpyEngine.from_file(target.cfg, target.run.model_path)
    ids = np.array([doc["next"]["vocab"].index(ch) for ch in CORPUS])
    for t in (0, 9, 57, len(CORPUS) - 1):
        values, nxt = page.tip(t)
        assert sorted(values) == sorted(["h", "c", "i", "f", "g", "o"])
        for k, v in values.items():  # unit 0; shown to 4 decimals
            assert abs(v - steps[t][k][0]) <= half[k][0, 0] + 5e-5 + 1e-7, (t, k)
        p = eng.next_probabilities(ids[: t + 1])
        top = np.argsort(-p, kind="stable")[:5]
        assert [json.loads(tok) for tok, _ in nxt] == [doc["next"]["vocab"][i] for i in top]
        assert [float(q) for _, q in nxt] == pytest.approx(p[top], abs=6e-5)


def _rgb(s: float) -> list[int]:
    """The page's colour scale (white at 0, blue below, red above), to check the heatmap's pixels."""
    import math

    s = max(-1.0, min(1.0, s))
    end, k = ((33, 102, 172) if s < 0 else (178, 24, 43)), abs(s)
    return [math.floor(255 + (e - 255) * k + 0.5) for e in end]


def test_browser_heatmap_shows_every_unit_and_a_click_picks_one(runs, lstm_page, opened) -> None:
    page = opened(lstm_page).page
    doc = page_document(lstm_page.read_text(encoding="utf-8"))
    shown = shown_values(doc)
    page.select_option("#heat-array", "f")
    row_h = page.evaluate("document.getElementById('heat').height") / doc["units"]
    col_w = page.evaluate("document.getElementById('heat').width") / doc["steps"]
    points = [(1, 0), (3, 40), (7, doc["steps"] - 1)]  # unit 0 is outlined (selected)
    xy = [[int(t * col_w + col_w // 2), int(u * row_h + row_h // 2)] for u, t in points]
    # one readback of the whole canvas (several would make Chrome warn on the console)
    pixels = page.evaluate(
        """xy => { const c = document.getElementById('heat');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   const at = (x, y) => (y * c.width + x) * 4;
                   return xy.map(([x, y]) => Array.from(d.slice(at(x, y), at(x, y) + 3))); }""",
        xy,
    )
    for (u, t), pixel in zip(points, pixels, strict=True):
        assert pixel == _rgb(2 * shown["f"][u, t] - 1), (u, t)
    heat = page.locator("#heat")
    heat.scroll_into_view_if_needed()
    box = heat.bounding_box()
    assert box is not None
    height = page.evaluate("document.getElementById('heat').height")
    u = doc["units"] - 2
    page.mouse.click(box["x"] + 3, box["y"] + (u + 0.5) * row_h * box["height"] / height)
    assert page.input_value("#unit") == str(u)
    # the text now follows that unit
    steps = engine_steps(runs["lstm"], CORPUS)
    page.hover("#text .tok[data-t='12']")
    h = float(page.text_content("#tip-values tr[data-k='h'] .v") or "nan")
    assert abs(h - steps[12]["h"][u]) <= half_steps(doc)["h"][u, 0] + 5e-5 + 1e-7
    background = page.eval_on_selector("#text .tok[data-t='12']", "s => s.style.backgroundColor")
    assert background == "rgb({}, {}, {})".format(*_rgb(shown["h"][u, 12]))


def expected_match(vals: np.ndarray, a: int, b: int, th: float) -> tuple[list[int], list[tuple[int, int]]]:
    """Select and match as the page defines it: the units ≥ th at every selected step, then the
    maximal runs elsewhere where all of them are, ranked by closeness to the selection's length,
    then mean value, then position; the first 50."""
    units, steps = vals.shape
    on = [u for u in range(units) if all(vals[u, t] >= th for t in range(a, b + 1))]
    runs_: list[tuple[int, float, int, int]] = []
    start = -1
    for t in range(steps + 1):
        all_on = t < steps and all(vals[u, t] >= th for u in on)
        if all_on and start < 0:
            start = t
        if not all_on and start >= 0:
            end = t - 1
            if end < a or start > b:
                total = 0.0
                for s in range(start, end + 1):
                    for u in on:
                        total += float(vals[u, s])
                mean = total / ((end - start + 1) * len(on))
                runs_.append((abs(end - start + 1 - (b - a + 1)), -mean, start, end))
            start = -1
    runs_.sort()
    return on, [(s, e) for _, _, s, e in runs_[:50]]


def test_browser_select_and_match_lists_the_units_on_and_the_places_they_are_on_again(
    lstm_page, opened
) -> None:
    o = opened(lstm_page)
    page = o.page
    doc = page_document(lstm_page.read_text(encoding="utf-8"))
    vals = shown_values(doc)["h"]
    a = CORPUS.index("script", 40)  # the second repetition: the first is where the state warms up
    b = a + 5
    best = max(float(min(vals[u, a : b + 1])) for u in range(doc["units"]))
    th = np.floor(best * 1000) / 1000 - 0.05
    on, matches = expected_match(vals, a, b, th)
    assert on and matches, "the tiny run should have a unit on across 'script' and elsewhere"
    page.fill("#threshold", str(th))
    first, last = page.locator(f"#text .tok[data-t='{a}']"), page.locator(f"#text .tok[data-t='{b}']")
    first.scroll_into_view_if_needed()
    fa, lb = first.bounding_box(), last.bounding_box()
    assert fa is not None and lb is not None
    page.mouse.move(fa["x"] + 1, fa["y"] + fa["height"] / 2)
    page.mouse.down()
    page.mouse.move(lb["x"] + lb["width"] - 1, lb["y"] + lb["height"] / 2, steps=6)
    page.mouse.up()
    assert page.text_content("#selection") == f'Selected steps {a}–{b} (6 tokens): "script"'
    got_on = page.eval_on_selector_all("#on-units .unit-link", "bs => bs.map(b => +b.dataset.unit)")
    got = page.eval_on_selector_all("#matches li", "ls => ls.map(l => [+l.dataset.start, +l.dataset.end])")
    assert got_on == on
    assert [tuple(m) for m in got] == matches
    page.click("#matches li:first-child button")
    hit = page.eval_on_selector_all("#text .tok.hit", "ss => ss.map(s => +s.dataset.t)")
    assert hit == list(range(matches[0][0], matches[0][1] + 1))
    page.click(f"#on-units .unit-link[data-unit='{on[-1]}']")
    assert page.input_value("#unit") == str(on[-1])


def test_browser_hostile_text_is_shown_verbatim_and_runs_nothing(runs, runner, opened, tmp_path) -> None:
    name = tmp_path / '<img src=x onerror="window.__pwned=1">.txt'
    name.write_text(CORPUS, encoding="utf-8")
    cases = [
        ("lstm", ["--text", str(name)], CORPUS, str(name)),
        ("lstm", ["--input", "</script>\ud800<b>&amp\u2029"], "</script>\ufffd<b>&amp\u2029", "--input"),
        ("word", ["--text", str(name)], CORPUS, str(name)),  # whole words: `<script>` is one token
    ]
    for n, (run, args, text, source) in enumerate(cases):
        out = tmp_path / f"p{n}.html"
        result = invoke(runner, "explore", runs[run], "--out", out, *args, "--quiet")
        assert result.exit_code == 0, result.output
        page = opened(out).page
        assert page.text_content("#text") == text
        assert source in (page.text_content("#meta") or "")
        page.hover("#text .tok[data-t='0']")
        page.fill("#threshold", "-1")
        page.locator("#text").select_text()
        page.dispatch_event("#text", "mouseup")
        units = page_document(out.read_text(encoding="utf-8"))["units"]
        assert (page.text_content("#on-units") or "").startswith(f"{units} units on (h ≥ -1) across it")
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("document.scripts.length") == 2
        assert page.evaluate("document.images.length") == 0
        assert page.evaluate("document.querySelectorAll('#text *:not(span.tok)').length") == 0


def test_browser_gru_shows_its_own_gates(runs, runner, opened, tmp_path) -> None:
    out = tmp_path / "gru.html"
    result = invoke(runner, "explore", runs["gru"], "--text", runs["corpus"], "--layer", "1", "--out", out)
    assert result.exit_code == 0, result.output
    o = opened(out)
    page = o.page
    assert page.eval_on_selector_all("#array option", "os => os.map(o => o.value)") == ["h", "z", "r", "g"]
    assert page.text_content("#sat-legend") == "z — update gater — reset gate"
    doc = page_document(out.read_text(encoding="utf-8"))
    steps = engine_steps(runs["gru"], CORPUS, layer=1)
    values, nxt = o.tip(30)
    assert sorted(values) == ["g", "h", "r", "z"] and len(nxt) == 5
    for k, v in values.items():
        assert abs(v - steps[30][k][0]) <= half_steps(doc)[k][0, 0] + 5e-5 + 1e-7
    # a click on a dot of the scatter picks its unit (the nearest dot; several may coincide)
    sat = doc["saturation"]
    side = 440 - 46 - 12
    k, u = 1, 4
    x, y = 46 + sat["left"][k][u] * side, 12 + (1 - sat["right"][k][u]) * side
    nearest = {
        v
        for kk in range(2)
        for v in range(doc["units"])
        if (sat["left"][kk][v], sat["right"][kk][v]) == (sat["left"][k][u], sat["right"][k][u])
    }
    canvas = page.locator("#sat")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x * box["width"] / 440, box["y"] + y * box["height"] / 440)
    assert int(page.input_value("#unit")) in nearest
    for view in ("text-view", "heatmap-view", "match-view", "saturation-view"):
        shot = tmp_path / f"{view}.png"
        page.locator(f"#{view}").screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 2000


@pytest.mark.slow
def test_the_wheel_ships_the_template(tmp_path) -> None:
    """`pip install .` must carry lstmcli/render/templates/explore.html (package data, pyproject.toml)."""
    import shutil
    import zipfile

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"  # a copy: the build writes build/ beside the sources, not in the checkout
    shutil.copytree(root / "lstmcli", src / "lstmcli", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("lstmcli-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert z.read("lstmcli/render/templates/explore.html").decode("utf-8") == explore_page.template()


def test_browser_classifier_hover_shows_the_label_probabilities_and_simple_rnn_has_no_gates(
    runs, runner, opened, tmp_path
) -> None:
    from lstmcli.tasks import classify

    out = tmp_path / "c.html"
    result = invoke(runner, "explore", runs["classify"], "--input", "bxyzx", "--out", out)
    assert result.exit_code == 0, result.output
    o = opened(out)
    _, labels = o.tip(3)
    target = inspection.resolve_target(str(runs["classify"]))
    expected = (
        classify.predict_texts(target, inspection.make_engine(target), ["bxyzx"], top_k=3).items[0].labels
    )
    assert [(name, float(p)) for name, p in labels] == [
        (name, pytest.approx(p, abs=5e-5)) for name, p in expected
    ]
    assert "label probabilities of the whole input" in (o.page.text_content("#tip") or "")
    out = tmp_path / "r.html"
    result = invoke(runner, "explore", runs["simple_rnn"], "--input", "the fox", "--out", out)
    assert result.exit_code == 0, result.output
    page = opened(out).page
    assert page.eval_on_selector_all("#array option", "os => os.map(o => o.value)") == ["h"]
    assert page.text_content("#sat-note") == "A simple_rnn cell has no gates: nothing to saturate."
    assert not page.is_visible("#sat")


def test_invalid_utf8_is_noted_on_stderr_unless_quiet(runs, tmp_path) -> None:
    text = tmp_path / "bad.txt"
    text.write_bytes(b"the \xff fox")
    done = lstmcli("explore", runs["lstm"], "--text", text, "--out", tmp_path / "p.html")
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"Note: {text}: invalid UTF-8 (first at byte 4) shown as U+FFFD\n"
    assert done.stdout.startswith(f"Wrote {tmp_path / 'p.html'} (")
    page_text = "".join(page_document((tmp_path / "p.html").read_text(encoding="utf-8"))["pieces"])
    assert page_text == "the \ufffd fox"
    done = lstmcli("explore", runs["lstm"], "--text", text, "--out", tmp_path / "p.html", "--quiet")
    assert done.returncode == 0 and done.stderr == ""
