"""Same config and seed on the same machine → bit-identical weights and metrics."""

from __future__ import annotations

import json

from conftest import HELLO, run_json, weights_sha256


def test_two_trainings_give_identical_weights(runner, tmp_path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        run_json(runner, "train", HELLO, "--out", out, "--set", "train.epochs=40", "--set", "seed=5")
        runs.append(out)
    a, b = runs
    assert weights_sha256(a / "model.keras") == weights_sha256(b / "model.keras")
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    other = tmp_path / "c"
    run_json(runner, "train", HELLO, "--out", other, "--set", "train.epochs=40", "--set", "seed=6")
    assert weights_sha256(other / "model.keras") != weights_sha256(a / "model.keras")
