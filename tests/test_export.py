"""lstmcli export: SavedModel, ONNX and TFLite through Keras's Model.export, each verified in
its own runtime against the NumPy engine, for every cell type and a 2-layer stack."""

from __future__ import annotations

from pathlib import Path

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
