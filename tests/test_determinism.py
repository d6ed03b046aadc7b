"""Same config and seed on the same machine → bit-identical weights and metrics."""

from __future__ import annotations

import hashlib
import json
import zipfile

import h5py

from conftest import HELLO, run_json


def _weights_sha256(model_path) -> str:
    digest = hashlib.sha256()
    with zipfile.ZipFile(model_path) as z, z.open("model.weights.h5") as raw:
        import io

        with h5py.File(io.BytesIO(raw.read()), "r") as f:
            names: list[str] = []
            f["layers"].visit(lambda n: names.append(n) if isinstance(f["layers"][n], h5py.Dataset) else None)
            for n in sorted(names):
                digest.update(n.encode())
                digest.update(f["layers"][n][()].tobytes())
    return digest.hexdigest()


def test_two_trainings_give_identical_weights(runner, tmp_path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        run_json(runner, "train", HELLO, "--out", out, "--set", "train.epochs=40", "--set", "seed=5")
        runs.append(out)
    a, b = runs
    assert _weights_sha256(a / "model.keras") == _weights_sha256(b / "model.keras")
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    other = tmp_path / "c"
    run_json(runner, "train", HELLO, "--out", other, "--set", "train.epochs=40", "--set", "seed=6")
    assert _weights_sha256(other / "model.keras") != _weights_sha256(a / "model.keras")
