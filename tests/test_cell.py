"""The NumPy cells match Keras step for step, and kerasfile reads only the models lstmcli writes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcli.errors import EXIT_USAGE, RunDirError
from lstmcli.model.cell import (
    GRUWeights,
    LSTMWeights,
    SimpleRNNWeights,
    forward,
    gru_trace,
    lstm_trace,
    sigmoid,
    simple_rnn_trace,
    softmax,
)
from lstmcli.model.kerasfile import load_spec

REPO = Path(__file__).resolve().parents[1]
ATOL = 1e-5

# Largest |Keras - NumPy| seen per cell over every property example; printed at module end
# (visible with `pytest -s`) so drift towards the tolerance shows before it becomes a failure.
MAX_DIFF: dict[str, float] = {"lstm": 0.0, "gru": 0.0, "simple_rnn": 0.0}


@pytest.fixture(scope="module", autouse=True)
def _report_max_diff() -> Iterator[None]:
    yield
    summary = ", ".join(f"{k}={v:.3g}" for k, v in MAX_DIFF.items())
    print(f"\nlargest |keras - numpy| difference in property tests: {summary}")


@cache
def _keras() -> Any:
    """Import Keras once, quietly, only when a test needs it (collection stays TF-free)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return keras


@cache
def _layer(kind: str, units: int, vocab: int) -> Any:
    """One built Keras layer per shape: building is the slow part, set_weights is cheap."""
    keras = _keras()
    cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}
    layer = cls[kind](units, return_sequences=True, return_state=True)
    layer.build((None, None, vocab))
    return layer


def _one_hot(rng: np.random.Generator, batch: int, steps: int, vocab: int) -> np.ndarray:
    return np.eye(vocab, dtype=np.float32)[rng.integers(0, vocab, size=(batch, steps))]


def _random_weights(
    rng: np.random.Generator, shapes: list[tuple[int, ...]], scale: float
) -> list[np.ndarray]:
    """kernel and bias with standard deviation `scale`; recurrent kernel with 1/sqrt(units).

    Large input weights saturate the gates, where an unstable sigmoid would show. The recurrent
    kernel stays near Keras's orthogonal init on purpose: with a large one the recurrence is
    chaotic, and float32 rounding (which differs between any two matmul orders) grows several
    times per step — measured 1.1e-5 after 5 steps for both Keras and NumPy against a float64
    reference at std 3 — which tests float conditioning, not the equations.
    """
    kernel, rec, bias = shapes
    units = rec[0]
    return [
        (scale * rng.standard_normal(kernel)).astype(np.float32),
        (rng.standard_normal(rec) / np.sqrt(units)).astype(np.float32),
        (scale * rng.standard_normal(bias)).astype(np.float32),
    ]


def _record(kind: str, *pairs: tuple[np.ndarray, Any]) -> None:
    for mine, theirs in pairs:
        diff = float(np.max(np.abs(mine - np.asarray(theirs))))
        MAX_DIFF[kind] = max(MAX_DIFF[kind], diff)
        np.testing.assert_allclose(mine, np.asarray(theirs), rtol=0, atol=ATOL)


shapes = st.fixed_dictionaries(
    {
        "units": st.integers(1, 16),
        "vocab": st.integers(2, 12),
        "steps": st.integers(1, 12),
        "batch": st.integers(1, 4),
        "seed": st.integers(0, 2**32 - 1),
        "scale": st.sampled_from([0.1, 1.0, 3.0]),
        "with_state": st.booleans(),
    }
)


# --- (a) property: NumPy cells == Keras layers -------------------------------------------------


def _lstm_case(x: np.ndarray, w: list[np.ndarray], states: list[Any] | None) -> tuple[Any, ...]:
    trace = lstm_trace(x, LSTMWeights(*w), *(states or []))
    for gate in (trace.i, trace.f, trace.o):
        assert gate.dtype == np.float32 and np.all((gate >= 0) & (gate <= 1))
    assert np.all(np.abs(trace.g) <= 1)
    return trace.h, trace.h[:, -1], trace.c[:, -1]


def _gru_case(x: np.ndarray, w: list[np.ndarray], states: list[Any] | None) -> tuple[Any, ...]:
    trace = gru_trace(x, GRUWeights(*w), *(states or []))
    assert np.all((trace.z >= 0) & (trace.z <= 1)) and np.all(np.abs(trace.hh) <= 1)
    return trace.h, trace.h[:, -1]


def _simple_rnn_case(x: np.ndarray, w: list[np.ndarray], states: list[Any] | None) -> tuple[Any, ...]:
    h = simple_rnn_trace(x, SimpleRNNWeights(*w), *(states or []))
    return h, h[:, -1]


# cell → (gate blocks in the kernel, bias shape for u units, states, NumPy trace → Keras outputs)
CELLS: dict[str, tuple[int, Any, int, Any]] = {
    "lstm": (4, lambda u: (4 * u,), 2, _lstm_case),
    "gru": (3, lambda u: (2, 3 * u), 1, _gru_case),
    "simple_rnn": (1, lambda u: (u,), 1, _simple_rnn_case),
}


@pytest.mark.parametrize("kind", sorted(CELLS))
@settings(max_examples=20, deadline=None)
@given(s=shapes)
def test_trace_matches_keras(kind: str, s: dict[str, Any]) -> None:
    gates, bias_shape, n_states, case = CELLS[kind]
    u, v, rng = s["units"], s["vocab"], np.random.default_rng(s["seed"])
    layer = _layer(kind, u, v)
    weights = _random_weights(rng, [(v, gates * u), (u, gates * u), bias_shape(u)], s["scale"])
    layer.set_weights(weights)
    x = _one_hot(rng, s["batch"], s["steps"], v)
    states = None
    if s["with_state"]:
        states = [rng.uniform(-1, 1, (s["batch"], u)).astype(np.float32) for _ in range(n_states)]
        theirs = layer(x, initial_state=states)
    else:
        theirs = layer(x)
    mine = case(x, weights, states)
    _record(kind, *zip(mine, theirs, strict=True))


# --- (b) golden values from constant initializers ----------------------------------------------

# kernel 0.1, recurrent 0.2, bias 0, one-hot x, zero state: every gate's pre-activation at step 1
# is 0.1, so σ(0.1) = 0.52497918747894, tanh(0.1) = 0.09966799462495582 and
#   LSTM: c1 = σ(0.1)·tanh(0.1) = 0.05232362283586467, h1 = σ(0.1)·tanh(c1) = 0.02744377273738812
#   step 2 (2 units, pre-activation 0.1 + 0.2·2·h1): c2 = 0.08593736111403227,
#     h2 = 0.0452392025568405
#   GRU:  h1 = (1 - σ(0.1))·tanh(0.1) = 0.04734437178909115
#   SimpleRNN: h1 = tanh(0.1) = 0.09966799462495582
SIG = 0.52497918747894
TANH = 0.09966799462495582


def _constant(kind: str, units: int, vocab: int) -> Any:
    keras = _keras()
    cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}
    layer = cls[kind](
        units,
        return_sequences=True,
        kernel_initializer=keras.initializers.Constant(0.1),
        recurrent_initializer=keras.initializers.Constant(0.2),
        bias_initializer="zeros",
        # Keras's LSTM adds 1 to the forget bias by default; the golden values assume bias 0.
        **({"unit_forget_bias": False} if kind == "lstm" else {}),
    )
    layer.build((None, None, vocab))
    return layer


def test_lstm_golden_values() -> None:
    x = np.zeros((1, 2, 3), dtype=np.float32)
    x[0, 0, 1] = x[0, 1, 2] = 1.0
    w = LSTMWeights(
        np.full((3, 8), 0.1, np.float32), np.full((2, 8), 0.2, np.float32), np.zeros(8, np.float32)
    )
    trace = lstm_trace(x[:, :1], w)
    np.testing.assert_allclose(trace.i[0, 0], [SIG, SIG], atol=ATOL)
    np.testing.assert_allclose(trace.f[0, 0], [SIG, SIG], atol=ATOL)
    np.testing.assert_allclose(trace.o[0, 0], [SIG, SIG], atol=ATOL)
    np.testing.assert_allclose(trace.g[0, 0], [TANH, TANH], atol=ATOL)
    np.testing.assert_allclose(trace.c[0, 0], [0.05232362283586467] * 2, atol=ATOL)
    np.testing.assert_allclose(trace.h[0, 0], [0.02744377273738812] * 2, atol=ATOL)

    two = lstm_trace(x, w)
    np.testing.assert_allclose(two.c[0, 1], [0.08593736111403227] * 2, atol=ATOL)
    np.testing.assert_allclose(two.h[0, 1], [0.0452392025568405] * 2, atol=ATOL)
    np.testing.assert_allclose(_constant("lstm", 2, 3)(x), two.h, atol=ATOL)


def test_gru_and_simple_rnn_golden_values() -> None:
    x = np.zeros((1, 1, 3), dtype=np.float32)
    x[0, 0, 0] = 1.0
    gru = GRUWeights(
        np.full((3, 6), 0.1, np.float32), np.full((2, 6), 0.2, np.float32), np.zeros((2, 6), "f4")
    )
    trace = gru_trace(x, gru)
    np.testing.assert_allclose(trace.z[0, 0], [SIG, SIG], atol=ATOL)
    np.testing.assert_allclose(trace.r[0, 0], [SIG, SIG], atol=ATOL)
    np.testing.assert_allclose(trace.hh[0, 0], [TANH, TANH], atol=ATOL)
    np.testing.assert_allclose(trace.h[0, 0], [0.04734437178909115] * 2, atol=ATOL)
    np.testing.assert_allclose(_constant("gru", 2, 3)(x), trace.h, atol=ATOL)

    rnn = SimpleRNNWeights(
        np.full((3, 2), 0.1, np.float32), np.full((2, 2), 0.2, np.float32), np.zeros(2, "f4")
    )
    h = simple_rnn_trace(x, rnn)
    np.testing.assert_allclose(h[0, 0], [TANH, TANH], atol=ATOL)
    np.testing.assert_allclose(_constant("simple_rnn", 2, 3)(x), h, atol=ATOL)


def test_sigmoid_and_softmax_are_stable_at_extremes() -> None:
    # Underflow to 0 is the right answer far out in the tails; overflow or NaN is not.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        s = sigmoid(np.array([-1e4, -50, 0, 50, 1e4], dtype=np.float32))
        p = softmax(np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]], dtype=np.float32))
    assert s.dtype == np.float32 and p.dtype == np.float32
    np.testing.assert_allclose(s, [0, 0, 0.5, 1, 1], atol=1e-7)
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-7)


def test_shape_mismatch_names_the_array() -> None:
    w = LSTMWeights(np.zeros((4, 8), "f4"), np.zeros((2, 8), "f4"), np.zeros(8, "f4"))
    with pytest.raises(ValueError, match="kernel of shape"):
        lstm_trace(np.zeros((1, 2, 3), "f4"), w)


# --- (c) kerasfile -----------------------------------------------------------------------------

VOCAB = 6


def _sequential(*layers: Any) -> Any:
    keras = _keras()
    return keras.Sequential(
        [keras.Input((None, VOCAB)), *layers, keras.layers.Dense(VOCAB, activation="softmax")]
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A plain single-LSTM model and a trained mixed stack, saved the way lstmcli saves them."""
    keras = _keras()
    keras.utils.set_random_seed(7)
    d = tmp_path_factory.mktemp("models")
    plain = _sequential(keras.layers.LSTM(4, return_sequences=True))
    plain.save(d / "plain.keras")
    # Built second, its layers are named lstm_1, lstm_2… while the HDF5 groups still say lstm,
    # lstm_1; the two LSTMs share a shape, so a swapped lookup would pass shape checks but not
    # the probability comparison.
    mixed = _sequential(
        keras.layers.LSTM(VOCAB, return_sequences=True),
        keras.layers.Dropout(0.3),
        keras.layers.LSTM(VOCAB, return_sequences=True, dropout=0.1),
        keras.layers.GRU(5, return_sequences=True),
        keras.layers.SimpleRNN(4, return_sequences=True),
    )
    mixed.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = _one_hot(rng, 8, 7, VOCAB)
    # One epoch with a large learning rate moves the weights off their initial values and puts
    # the optimizer's variables into the file.
    mixed.optimizer.learning_rate = 0.1
    mixed.fit(x[:, :-1], x[:, 1:], epochs=1, verbose=0)
    mixed.save(d / "mixed.keras")
    return {"dir": d, "plain": plain, "mixed": mixed, "keras": keras}


def test_round_trip_matches_predict(saved: dict[str, Any]) -> None:
    x = _one_hot(np.random.default_rng(1), 3, 9, VOCAB)
    for name in ("plain", "mixed"):
        spec = load_spec(saved["dir"] / f"{name}.keras")
        traces, probs = forward(spec.stack(), x)
        expected = saved[name].predict(x, verbose=0)
        np.testing.assert_allclose(probs, expected, rtol=0, atol=ATOL)
        assert len(traces) == len(spec.layers)
        assert spec.input_dim == VOCAB and spec.keras_version == saved["keras"].__version__

    spec = load_spec(saved["dir"] / "mixed.keras")
    assert [(layer.kind, layer.units) for layer in spec.layers] == [
        ("lstm", VOCAB),
        ("lstm", VOCAB),
        ("gru", 5),
        ("simple_rnn", 4),
    ]
    assert [layer.name for layer in spec.layers] == [
        layer.name for layer in saved["mixed"].layers if layer.__class__.__name__ != "Dropout"
    ][:4]
    assert spec.dense.activation == "softmax" and spec.dense.kernel.shape == (4, VOCAB)


def test_config_without_input_layer_still_loads(saved: dict[str, Any], tmp_path: Path) -> None:
    # Keras 3 writes an InputLayer entry once the model is built; without it the vocabulary
    # comes from the first kernel's shape.
    path = _rewrite(
        saved["dir"] / "mixed.keras",
        tmp_path / "no_input.keras",
        config=lambda c: c["config"]["layers"].pop(0),
    )
    x = _one_hot(np.random.default_rng(2), 2, 5, VOCAB)
    spec = load_spec(path)
    assert spec.input_dim == VOCAB
    np.testing.assert_allclose(
        forward(spec.stack(), x)[1], saved["mixed"].predict(x, verbose=0), rtol=0, atol=ATOL
    )


def test_unbuilt_model_is_refused(saved: dict[str, Any]) -> None:
    keras = saved["keras"]
    path = saved["dir"] / "unbuilt.keras"
    model = keras.Sequential(
        [keras.layers.LSTM(3, return_sequences=True), keras.layers.Dense(VOCAB, "softmax")]
    )
    with pytest.warns(UserWarning, match="not yet been built"):
        model.save(path)
    with pytest.raises(RunDirError, match="saved before it was built") as err:
        load_spec(path)
    _check_error(err.value, path)


def test_lambda_layer_is_refused(saved: dict[str, Any]) -> None:
    keras = saved["keras"]
    path = saved["dir"] / "lambda.keras"
    model = _sequential(keras.layers.Lambda(lambda t: t * 2), keras.layers.LSTM(3, return_sequences=True))
    model.save(path)
    with pytest.raises(RunDirError, match=r"of class Lambda .*refusing to load it") as err:
        load_spec(path)
    _check_error(err.value, path)


def _check_error(e: RunDirError, path: Path) -> None:
    assert e.exit_code == EXIT_USAGE
    assert e.message.startswith(f"{path}: ") and "\n" not in e.message


def _rewrite(
    src: Path,
    dst: Path,
    *,
    config: Callable[[dict[str, Any]], None] | None = None,
    members: dict[str, bytes | None] | None = None,
) -> Path:
    """Copy a .keras archive, editing config.json in place and replacing/dropping members."""
    members = dict(members or {})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data: bytes | None = zin.read(name)
            if name in members:
                data = members.pop(name)
            elif name == "config.json" and config is not None:
                cfg = json.loads(data or b"")
                config(cfg)
                data = json.dumps(cfg).encode()
            if data is not None:
                zout.writestr(name, data)
    return dst


def _layer_cfg(cfg: dict[str, Any], n: int) -> dict[str, Any]:
    layer: dict[str, Any] = cfg["config"]["layers"][n]
    return layer


def _drop_h5_dataset(h5_bytes: bytes, path: str) -> bytes:
    buf = io.BytesIO(h5_bytes)
    with h5py.File(buf, "r+") as h5:
        del h5[path]
    return buf.getvalue()


CONFIG_EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    # layers[0] is the InputLayer, [1] the first LSTM, [2] the Dropout, [-1] the Dense.
    "units changed": (
        lambda c: _layer_cfg(c, 1)["config"].update(units=7),
        r"weight 'kernel' has shape \(6, 24\); the config \(units=7\) needs \(6, 28\)",
    ),
    "unknown class": (
        lambda c: _layer_cfg(c, 2).update(class_name="Conv1D"),
        r"of class Conv1D .*is not one lstmcli writes",
    ),
    "custom initializer": (
        lambda c: _layer_cfg(c, 1)["config"].update(
            kernel_initializer={
                "module": "evil.init",
                "class_name": "Evil",
                "config": {},
                "registered_name": "evil>Evil",
            }
        ),
        r"custom object 'Evil' from module 'evil.init'",
    ),
    "custom layer": (
        lambda c: _layer_cfg(c, 1).update(module="mypkg.layers", registered_name="mypkg>LSTM"),
        r"of class LSTM \(module mypkg.layers\) is not one lstmcli writes",
    ),
    "go_backwards": (
        lambda c: _layer_cfg(c, 3)["config"].update(go_backwards=True),
        r"has go_backwards=True; lstmcli only writes go_backwards=False",
    ),
    "relu activation": (
        lambda c: _layer_cfg(c, 1)["config"].update(activation="relu"),
        r"has activation='relu'",
    ),
    "gru reset_after false": (
        lambda c: _layer_cfg(c, 4)["config"].update(reset_after=False),
        r"reset_after=False",
    ),
    "linear output": (
        lambda c: _layer_cfg(c, -1)["config"].update(activation="linear"),
        r"activation='linear'; lstmcli only writes activation='softmax'",
    ),
    "functional model": (
        lambda c: c.update(class_name="Functional"),
        r"describes a 'Functional' model",
    ),
    "mixed precision": (
        lambda c: _layer_cfg(c, 1)["config"].update(dtype="mixed_float16"),
        r"dtype policy 'mixed_float16'",
    ),
    "layer dropped from config": (
        lambda c: c["config"]["layers"].pop(5),
        r"weights for layers the config does not list: \['simple_rnn'\]",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_EDITS))
def test_edited_config_is_refused(saved: dict[str, Any], tmp_path: Path, case: str) -> None:
    edit, pattern = CONFIG_EDITS[case]
    path = _rewrite(saved["dir"] / "mixed.keras", tmp_path / "edited.keras", config=edit)
    with pytest.raises(RunDirError, match=pattern) as err:
        load_spec(path)
    _check_error(err.value, path)


def _members(saved: dict[str, Any]) -> dict[str, bytes]:
    with zipfile.ZipFile(saved["dir"] / "mixed.keras") as z:
        return {n: z.read(n) for n in z.namelist()}


MEMBER_EDITS: dict[str, tuple[Callable[[dict[str, bytes]], dict[str, bytes | None]], str]] = {
    "missing weights": (lambda m: {"model.weights.h5": None}, r"archive has no model.weights.h5"),
    "missing config": (lambda m: {"config.json": None}, r"archive has no config.json"),
    "corrupt h5": (
        lambda m: {"model.weights.h5": b"not an hdf5 file" * 64},
        r"model.weights.h5 is not a readable HDF5 weights file",
    ),
    "truncated h5": (
        lambda m: {"model.weights.h5": m["model.weights.h5"][:2000]},
        r"model.weights.h5 is not a readable HDF5 weights file",
    ),
    "h5 dataset missing": (
        lambda m: {"model.weights.h5": _drop_h5_dataset(m["model.weights.h5"], "layers/gru/cell/vars/2")},
        r"layer 'gru\w*' \(GRU\) should have 3 weight arrays .*Received: \['0', '1'\]",
    ),
    "config not json": (lambda m: {"config.json": b"{not json"}, r"config.json is not valid JSON"),
    "keras 2": (
        lambda m: {"metadata.json": b'{"keras_version": "2.15.0"}'},
        r"saved by Keras 2.15.0; lstmcli reads files written by Keras 3",
    ),
}


@pytest.mark.parametrize("case", sorted(MEMBER_EDITS))
def test_damaged_archive_is_refused(saved: dict[str, Any], tmp_path: Path, case: str) -> None:
    edit, pattern = MEMBER_EDITS[case]
    members = edit(_members(saved))
    path = _rewrite(saved["dir"] / "mixed.keras", tmp_path / "damaged.keras", members=members)
    with pytest.raises(RunDirError, match=pattern) as err:
        load_spec(path)
    _check_error(err.value, path)


@pytest.mark.parametrize("case", ["truncated", "not a zip", "missing", "directory", "empty"])
def test_unreadable_file_is_refused(saved: dict[str, Any], tmp_path: Path, case: str) -> None:
    path = tmp_path / "model.keras"
    good = (saved["dir"] / "mixed.keras").read_bytes()
    pattern = r"is not a \.keras archive \(not a zip file, or truncated\)"
    if case == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif case == "not a zip":
        path.write_text("model: definitely not a zip\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "missing":
        pattern = "no such file"
    else:
        path.mkdir()
        pattern = "is not a file"
    with pytest.raises(RunDirError, match=pattern) as err:
        load_spec(path)
    _check_error(err.value, path)


@settings(max_examples=40, deadline=None)
@given(
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    keep=st.floats(0.05, 1),
)
def test_damaged_weights_load_or_raise_run_dir_error(
    saved: dict[str, Any], flips: list[tuple[float, int]], keep: float
) -> None:
    # HDF5 has no checksums, so some damage loads as different numbers; what must never happen
    # is an h5py exception (RuntimeError, OverflowError, …) escaping as a crash.
    members = _members(saved)
    h5 = bytearray(members["model.weights.h5"])
    for where, value in flips:
        h5[int(where * len(h5))] = value
    members["model.weights.h5"] = bytes(h5[: max(1, int(keep * len(h5)))])
    path = _rewrite(saved["dir"] / "mixed.keras", saved["dir"] / "fuzz.keras", members=members)
    try:
        load_spec(path)
    except RunDirError as e:
        _check_error(e, path)


def test_importing_cell_and_kerasfile_leaves_tensorflow_out() -> None:
    code = (
        "import json, sys; import lstmcli.model.cell, lstmcli.model.kerasfile; "
        "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
