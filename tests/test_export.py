"""lstmcli export: SavedModel, ONNX and TFLite through Keras's Model.export, each verified in
its own runtime against the NumPy engine, for every cell type and a 2-layer stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import HELLO, invoke, run_json

MODELS = {
    "lstm": ["model.cell=lstm"],
    "gru": ["model.cell=gru"],
    "simple_rnn": ["model.cell=simple_rnn"],
    "lstm-2-layers": ["model.cell=lstm", "model.num_layers=2", "model.units=3", "model.dropout=0.1"],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("export")
    out = {}
    for name, sets in MODELS.items():
        out[name] = root / name
        args = [a for s in [*sets, "train.epochs=20"] for a in ("--set", s)]
        run_json(CliRunner(), "train", HELLO, "--out", out[name], *args)
    return out


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("fmt", ["saved_model", "onnx", "tflite"])
def test_export_verifies_in_its_own_runtime(runner, trained, tmp_path, model, fmt) -> None:
    if fmt == "onnx":  # the export extra: CI installs it, so a missing one fails here
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    out = tmp_path / f"m.{fmt}"
    r = run_json(runner, "export", trained[model], "--format", fmt, "--out", out, "--verify")
    v = r["verify"]
    assert v["ok"] and v["max_abs_diff"] <= 1e-5 and v["sequences"] >= 3
    assert out.exists() and r["bytes"] > 0
    assert r["variable_length"] is (fmt != "tflite")
    if r["variable_length"]:
        assert len(v["lengths"]) == 2  # the sequences and shorter prefixes of them
    # Not the exporter's verdict alone: the artifact, loaded here in its own runtime, against
    # the NumPy engine on the run's saved weights.
    assert _artifact_vs_numpy(trained[model], fmt, out) <= TOLERANCE


TOLERANCE = 1e-5
"""Largest absolute difference of a probability allowed between an artifact and NumPy (float32)."""


def _load_artifact(fmt: str, path: Path) -> tuple[Any, bool]:
    """(run(x) -> probabilities, takes any length) for an exported artifact, loaded here with its
    own runtime, none of the exporter's code."""
    import numpy as np

    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda x: np.asarray(session.run(None, {name: x})[0])), True
    import tensorflow as tf

    if fmt == "saved_model":
        loaded = tf.saved_model.load(str(path))
        return (lambda x: np.asarray(loaded.serve(x))), True
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice (LiteRT)
        interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(x: Any) -> Any:
        rows = []
        for seq in x:  # TFLite: a batch of 1 of sequence_length steps
            interpreter.set_tensor(inp["index"], seq[None])
            interpreter.invoke()
            rows.append(np.asarray(interpreter.get_tensor(outp["index"]))[0])
        return np.stack(rows)

    return run, False


def _artifact_vs_numpy(run_dir: Path, fmt: str, path: Path) -> float:
    """The largest |artifact - NumPy engine| over random sequences (of sequence_length, and of
    other lengths where the format takes any)."""
    import numpy as np

    from lstmcli import runs
    from lstmcli.model import kerasfile
    from lstmcli.model.cell import forward

    spec = kerasfile.load_spec(run_dir / "model.keras")
    length = runs.open_run(run_dir).config.sequence_length
    artifact, any_length = _load_artifact(fmt, path)
    rng = np.random.default_rng(0)
    worst = 0.0
    for steps in [length, 1, 2 * length + 3] if any_length else [length]:
        ids = rng.integers(0, spec.input_dim, size=(4, steps))
        x = np.eye(spec.input_dim, dtype=np.float32)[ids]
        _, want = forward(spec.stack(), x)
        got = artifact(x)
        assert got.shape == np.shape(want)
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want))))
    return worst


def test_the_artifact_check_catches_wrong_weights(runner, trained, tmp_path, monkeypatch) -> None:
    """The comparison above fails when export writes other weights than the run's, even with
    --verify saying yes (both broken on purpose here)."""
    from lstmcli.experiments import export
    from lstmcli.model import backend

    load = backend.load_model

    def wrong(path: Any) -> Any:
        model = load(path)
        w = model.layers[-1].kernel
        k = w.numpy()
        k[:, 0] += 0.5  # one output's column (a shift of every logit alike would not show)
        w.assign(k)
        return model

    monkeypatch.setattr(backend, "load_model", wrong)
    fooled = export.ExportCheck(
        "TensorFlow", sequences=3, lengths=[4], max_abs_diff=0.0, tolerance=1e-5, ok=True
    )
    monkeypatch.setattr(export, "check", lambda *a: fooled)
    out = tmp_path / "m"
    r = run_json(runner, "export", trained["lstm"], "--format", "saved_model", "--out", out, "--verify")
    assert r["verify"]["ok"]  # the exporter's verdict: fooled
    assert _artifact_vs_numpy(trained["lstm"], "saved_model", out) > 1e-3  # the test's: not


def test_bad_export_input_exits_2_and_writes_nothing(runner, trained, hello_run, tmp_path) -> None:
    out = tmp_path / "m"
    for args in (
        (hello_run, "--format", "pickle"),
        (tmp_path, "--format", "onnx"),  # not a run directory
    ):
        r = invoke(runner, "export", *args, "--out", out)
        assert r.exit_code == 2 and r.stderr.count("Error:") == 1, r.output
        assert not out.exists()
    out.write_text("keep me")
    r = invoke(runner, "export", hello_run, "--format", "tflite", "--out", out)
    assert r.exit_code == 2 and "already exists" in r.stderr and out.read_text() == "keep me"


def test_verify_beyond_the_tolerance_exits_1(runner, trained, tmp_path, monkeypatch) -> None:
    from lstmcli.experiments import export

    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # any difference, even none, is too much
    r = invoke(
        runner, "export", trained["lstm"], "--format", "saved_model", "--out", tmp_path / "m", "--verify"
    )
    assert r.exit_code == 1 and "verify:" in r.stderr
