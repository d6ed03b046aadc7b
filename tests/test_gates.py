"""inspect --gates / --verify / --engine / --plot, and the TensorFlow-free fast path."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import HELLO, invoke, run_json


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_gate_steps_obey_the_lstm_equations(runner, hello_run) -> None:
    r = run_json(runner, "inspect", hello_run, "--gates", "--input", "hello", "--input", "oh")
    assert r["engine"] == "numpy"
    for steps, h_last, c_last in zip(r["steps"], r["hidden_state"], r["cell_state"], strict=True):
        c_prev = np.zeros(2)
        for step in steps:
            assert set(step) == {"token", "i", "f", "g", "o", "c", "h"}
            i, f, g, o, c, h = (np.array(step[k]) for k in "ifgoch")
            assert np.all((0 < i) & (i < 1)) and np.all((0 < f) & (f < 1)) and np.all(np.abs(g) < 1)
            np.testing.assert_allclose(c, f * c_prev + i * g, atol=1e-6)
            np.testing.assert_allclose(h, o * np.tanh(c), atol=1e-6)
            c_prev = c
        np.testing.assert_allclose(steps[-1]["h"], h_last, atol=1e-6)
        np.testing.assert_allclose(steps[-1]["c"], c_last, atol=1e-6)
    assert [s["token"] for s in r["steps"][1]] == ["o", "h"]


def test_first_step_from_the_weights_by_hand(runner, hello_run) -> None:
    """i_0 = σ(W_xi x_0 + b_i) with h_-1 = 0, straight from the Keras weight layout (i, f, c, o)."""
    import keras

    lstm = keras.models.load_model(hello_run / "model.keras").layers[0]
    kernel, _, bias = lstm.get_weights()
    r = run_json(runner, "inspect", hello_run, "--gates", "--input", "e")
    pre = kernel[1] + bias  # one-hot 'e' selects row 1 of the kernel
    u = 2
    np.testing.assert_allclose(r["steps"][0][0]["i"], _sigmoid(pre[:u]), atol=1e-6)
    np.testing.assert_allclose(r["steps"][0][0]["f"], _sigmoid(pre[u : 2 * u]), atol=1e-6)
    np.testing.assert_allclose(r["steps"][0][0]["g"], np.tanh(pre[2 * u : 3 * u]), atol=1e-6)
    np.testing.assert_allclose(r["steps"][0][0]["o"], _sigmoid(pre[3 * u :]), atol=1e-6)


@pytest.mark.parametrize("target", ["config", "run"])
def test_verify_agrees_within_tolerance(runner, hello_run, target) -> None:
    t = HELLO if target == "config" else hello_run
    r = run_json(runner, "inspect", t, "--verify")
    assert r["verify"]["ok"] is True
    assert 0 <= r["verify"]["max_abs_diff"] <= 1e-5
    result = invoke(runner, "inspect", t, "--verify")
    assert result.exit_code == 0
    assert "largest difference" in result.stdout


def test_engines_agree(runner, hello_run) -> None:
    a = run_json(runner, "predict", hello_run, "hell", "oh", "--engine", "numpy", "--top-k", "4")
    b = run_json(runner, "predict", hello_run, "hell", "oh", "--engine", "keras", "--top-k", "4")
    assert a["engine"] == "numpy" and b["engine"] == "keras"
    for ra, rb in zip(a["results"], b["results"], strict=True):
        pa = {n["token"]: n["probability"] for n in ra["next"]}
        pb = {n["token"]: n["probability"] for n in rb["next"]}
        for tok in pa:
            assert pa[tok] == pytest.approx(pb[tok], abs=1e-5)
    ia = run_json(runner, "inspect", hello_run, "--engine", "numpy")
    ib = run_json(runner, "inspect", hello_run, "--engine", "keras")
    np.testing.assert_allclose(ia["cell_state"], ib["cell_state"], atol=1e-5)


def test_fast_path_never_imports_tensorflow(hello_run) -> None:
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from lstmcli.cli import app\n"
        f"r = CliRunner().invoke(app, ['predict', {str(hello_run)!r}, 'hell', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r2 = CliRunner().invoke(app, ['inspect', {str(hello_run)!r}, '--gates', '--json'])\n"
        "assert r2.exit_code == 0, r2.output\n"
        "print(json.loads(r.stdout)['results'][0]['next'][0]['token'], 'tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["o", "False"]


def test_predict_imports_only_what_it_runs(hello_run) -> None:
    """predict's start-up (issue 20, item 5): plain next-token probabilities with --json import
    neither numpy.random (only sampling draws) nor Rich (nothing is drawn); sampling does."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from lstmcli.cli import app\n"
        f"r = CliRunner().invoke(app, ['predict', {str(hello_run)!r}, 'hell', '--steps', '2', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('numpy.random' in sys.modules, 'rich' in sys.modules)\n"
        f"r = CliRunner().invoke(app, ['predict', {str(hello_run)!r}, 'he', '--steps', '2', "
        "'--temperature', '1', '--seed', '0', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('numpy.random' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True"]


def _copy_run(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


@pytest.mark.parametrize("damage", ["truncated", "not_zip", "lambda", "wrong_shape"])
@pytest.mark.parametrize("engine", ["numpy", "keras"])
def test_broken_model_file_is_refused(runner, hello_run, tmp_path, damage, engine) -> None:
    run = _copy_run(hello_run, tmp_path / "run")
    model = run / "model.keras"
    if damage == "truncated":
        model.write_bytes(model.read_bytes()[:3000])
    elif damage == "not_zip":
        model.write_text("this is not a zip file")
    elif damage == "lambda":
        import keras

        m = keras.Sequential(
            [
                keras.Input((None, 4)),
                keras.layers.Lambda(lambda x: x * 2),
                keras.layers.LSTM(2, return_sequences=True),
                keras.layers.Dense(4, activation="softmax"),
            ]
        )
        m.save(model)
    else:
        with zipfile.ZipFile(hello_run / "model.keras") as src, zipfile.ZipFile(model, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "config.json":
                    data = data.replace(b'"units": 2', b'"units": 3')
                dst.writestr(item, data)
    result = invoke(runner, "predict", run, "hell", "--engine", engine)
    assert result.exit_code == 2, result.output
    assert str(model) in result.stderr
    assert "Traceback" not in result.stderr
    if damage == "lambda":
        assert "Lambda" in result.stderr


def test_other_cells_and_layers(runner) -> None:
    gru = run_json(runner, "inspect", HELLO, "--set", "model.cell=gru", "--gates", "--verify")
    assert gru["cell_state"] is None and gru["shapes"]["cell_state"] is None
    assert gru["steps"][0][0]["c"] is None and set(gru["steps"][0][0]) >= {"z", "r", "g", "h"}
    assert gru["verify"]["ok"]
    rnn = run_json(runner, "inspect", HELLO, "--set", "model.cell=simple_rnn", "--verify")
    assert rnn["cell_state"] is None and rnn["verify"]["ok"]
    deep = run_json(runner, "inspect", HELLO, "--set", "model.num_layers=2", "--layer", "1", "--verify")
    assert deep["layer"] == 1 and deep["num_layers"] == 2 and deep["verify"]["ok"]
    result = invoke(runner, "inspect", HELLO, "--layer", "3")
    assert result.exit_code == 2 and "--layer: expected 0..0, got 3" in result.stderr
    text = invoke(runner, "inspect", HELLO, "--set", "model.cell=gru")
    assert "gru has no cell state" in text.stdout


def test_plot_without_matplotlib_is_a_clear_error(runner, hello_run, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    png = tmp_path / "h.png"
    result = invoke(runner, "inspect", hello_run, "--plot", png)
    assert result.exit_code == 2
    assert "pip install 'lstmcli[plot]'" in result.stderr
    assert not png.exists()


def test_plot_writes_pngs(runner, hello_run, tmp_path) -> None:
    import matplotlib  # noqa: F401  # the plot extra: CI installs it, so a missing one fails here

    png = tmp_path / "gates.png"
    assert invoke(runner, "inspect", hello_run, "--plot", png).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = tmp_path / "curves.png"
    r = run_json(
        runner, "train", HELLO, "--out", tmp_path / "run", "--set", "train.epochs=3", "--plot", curves
    )
    assert r["epochs"] == 3
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
