"""A run's weights cache (weights.npz, issue 20): `predict` reads the weights from it instead of
model.keras's HDF5 member, so h5py is never imported, with bit-identical results; a stale,
edited, damaged or unwritable cache is never used and never an error."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import HELLO, run_json
from lstmcli.model import kerasfile

# predict in a fresh interpreter: its JSON result and whether h5py was imported on the way.
CHILD = """
import contextlib, io, json, sys
from lstmcli.cli import main
sys.argv = ["lstmcli", "predict", sys.argv[1], "hell", "hel", "--json"]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main()
    except SystemExit as e:
        assert not e.code, e.code
print(json.dumps({"result": json.loads(out.getvalue()), "h5py": "h5py" in sys.modules}))
"""


def predict_fresh(run: Path) -> tuple[dict, bool]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(run)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    doc = json.loads(done.stdout)
    return doc["result"], doc["h5py"]


def probabilities(result: dict) -> list[list[float]]:
    # JSON floats round-trip exactly (repr), so equal lists are equal to the last bit.
    return [[n["probability"] for n in item["next"]] for item in result["results"]]


@pytest.fixture
def run(hello_run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "hello"
    shutil.copytree(hello_run, dst)
    (dst / "weights.npz").unlink(missing_ok=True)
    return dst


def spec_arrays(spec: kerasfile.ModelSpec) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for layer in spec.layers:
        w = layer.weights
        out += [w.kernel, w.recurrent_kernel, w.bias]
    return [*out, spec.dense.kernel, spec.dense.bias]


def test_the_second_predict_reads_the_cache_without_h5py_to_the_bit(run: Path) -> None:
    first, used_h5py = predict_fresh(run)
    assert used_h5py and (run / "weights.npz").is_file()
    second, used_h5py = predict_fresh(run)
    assert not used_h5py
    assert probabilities(second) == probabilities(first)
    plain = kerasfile.load_spec(run / "model.keras")
    cached = kerasfile.load_spec(run / "model.keras", run / "weights.npz")
    for a, b in zip(spec_arrays(plain), spec_arrays(cached), strict=True):
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    # The cache has the run's other files' permissions, not mkstemp's 0600.
    assert (run / "weights.npz").stat().st_mode & 0o777 == (run / "model.keras").stat().st_mode & 0o777


def test_an_edited_cache_is_not_used_and_is_rewritten(run: Path) -> None:
    reference, _ = predict_fresh(run)
    cache = run / "weights.npz"
    with np.load(cache) as z:
        members = {k: z[k] for k in z.files}
    members["w0"] = members["w0"] + np.float32(1.0)  # the record still names this model file
    np.savez(cache, **members)
    result, used_h5py = predict_fresh(run)
    assert used_h5py and probabilities(result) == probabilities(reference)
    again, used_h5py = predict_fresh(run)  # the rewritten cache is good again
    assert not used_h5py and probabilities(again) == probabilities(reference)


def rewrite_weights(model: Path, change) -> None:
    """model.keras with its HDF5 member edited in place, the zip otherwise as it was."""
    with zipfile.ZipFile(model) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    out = []
    for info, data in members:
        if info.filename == "model.weights.h5":
            buf = io.BytesIO(data)
            with h5py.File(buf, "r+") as h5:
                change(h5)
            data = buf.getvalue()
        out.append((info, data))
    with zipfile.ZipFile(model, "w") as zf:
        for info, data in out:
            zf.writestr(info, data)


def test_a_cache_of_a_replaced_model_file_is_stale(run: Path) -> None:
    before, _ = predict_fresh(run)
    model = run / "model.keras"
    stat = model.stat()

    def change(h5: h5py.File) -> None:
        ds = h5["layers/dense/vars/1"]  # the output bias
        ds[...] = ds[()] + np.float32(0.5) * np.arange(ds.shape[0], dtype=np.float32)

    rewrite_weights(model, change)
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: only the bytes differ
    after, used_h5py = predict_fresh(run)
    assert used_h5py and probabilities(after) != probabilities(before)
    (run / "weights.npz").unlink()
    fresh, _ = predict_fresh(run)  # what the model file alone gives
    assert probabilities(after) == probabilities(fresh)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "a folder"])
def test_a_damaged_or_unwritable_cache_is_never_an_error(run: Path, damage: str) -> None:
    reference, _ = predict_fresh(run)
    cache = run / "weights.npz"
    if damage == "garbage":
        cache.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:-100])
    else:
        cache.unlink()
        cache.mkdir()  # cannot be replaced by a file: no cache, and no error
    result, used_h5py = predict_fresh(run)
    assert used_h5py and probabilities(result) == probabilities(reference)
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


def test_force_replaces_a_run_directory_holding_a_cache(runner, run: Path) -> None:
    predict_fresh(run)
    assert (run / "weights.npz").is_file()
    r = run_json(runner, "train", HELLO, "--out", run, "--set", "train.epochs=1", "--force")
    assert r["epochs"] == 1 and not (run / "weights.npz").exists()
