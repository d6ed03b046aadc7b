"""model.forget_bias: a number or chrono, set as weights after building; the file stays stock Keras."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from conftest import HELLO
from lstmcli import config
from lstmcli.model.forget_bias import lstm_bias


def _cfg(**model: object) -> config.Config:
    return config.load(HELLO, [f"model.{k}={v}" for k, v in model.items()])


def test_chrono_draws_log_u_per_unit_and_shuts_the_input_gate() -> None:
    cfg = _cfg(units=64, forget_bias="chrono")
    b = lstm_bias(cfg, 64, 0)
    i, f, c, o = b.reshape(4, 64)
    L = cfg.sequence_length  # hello: 5, so u ~ U(1, 4)
    assert np.all(f >= 0) and np.all(f <= np.log(L - 1))
    np.testing.assert_array_equal(i, -f)
    assert not c.any() and not o.any()
    np.testing.assert_array_equal(b, lstm_bias(cfg, 64, 0))  # seeded
    assert not np.array_equal(b, lstm_bias(cfg, 64, 1))  # each layer draws its own
    assert not np.array_equal(b, lstm_bias(config.load(HELLO, ["model.forget_bias=chrono", "seed=1"]), 64, 0))
    long = lstm_bias(_cfg(forget_bias="{chrono: 1000}"), 4096, 0).reshape(4, 4096)[1]
    assert long.max() > np.log(900) and long.min() < np.log(10)  # spans lags from a few steps to 1000


def test_a_number_sets_the_forget_gate_only_and_1_is_keras_own() -> None:
    i, f, c, o = lstm_bias(_cfg(forget_bias=3), 8, 0).reshape(4, 8)
    assert np.all(f == 3.0) and not (i.any() or c.any() or o.any())
    assert lstm_bias(_cfg(), 8, 0) is None  # Keras's unit_forget_bias stands: bit-identical to before


def test_other_cells_refuse_anything_but_1() -> None:
    with pytest.raises(Exception, match=r"model.forget_bias: expected 1.0 for model.cell gru.*got chrono"):
        _cfg(cell="gru", forget_bias="chrono")
    assert _cfg(cell="simple_rnn", forget_bias="1.0").model.forget_bias == 1.0


def test_chrono_model_is_stock_keras_and_the_numpy_engine_reads_it(tmp_path) -> None:
    import keras

    from lstmcli.model import backend
    from lstmcli.model.kerasfile import load_spec

    cfg = _cfg(units=6, num_layers=2, forget_bias="{chrono: 50}")
    backend.set_seed(0)
    model = backend.build_model(cfg)
    path = tmp_path / "m.keras"
    model.save(path)
    text = zipfile.ZipFile(path).read("config.json").decode()
    assert "Chrono" not in text and "lstmcli" not in text.replace('"name": "lstmcli"', "")
    layers = json.loads(text)["config"]["layers"]
    for x in layers:
        if x["class_name"] == "LSTM":  # Keras's own initialisers, as for any LSTM it builds
            assert x["config"]["bias_initializer"]["class_name"] == "Zeros"
            assert x["config"]["unit_forget_bias"] is True
    loaded = keras.models.load_model(path, safe_mode=True)
    spec = load_spec(path)
    for n, layer in enumerate(x for x in loaded.layers if isinstance(x, keras.layers.LSTM)):
        np.testing.assert_array_equal(layer.cell.bias.numpy(), lstm_bias(cfg, 6, n))
        np.testing.assert_array_equal(spec.layers[n].weights.bias, lstm_bias(cfg, 6, n))


def test_clipnorm_reaches_the_optimizer() -> None:
    from lstmcli.model import backend

    assert backend.make_optimizer(config.load(HELLO, ["train.clipnorm=1"])).clipnorm == 1.0
    assert backend.make_optimizer(config.load(HELLO)).clipnorm is None
