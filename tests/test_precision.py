"""`train.precision: bfloat16` (issue 20 item 4): the recurrent layers compute in bfloat16 (Keras's
mixed_bfloat16 policy; the fast kernel's matmuls on bfloat16 operands), variables, gradients,
the optimizer and the loss stay float32, model.keras stays a float32 model, resume is exact."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import HELLO, invoke, run_json, weights_sha256
from lstmcli.model.backend import keras, set_precision

keras()  # Keras on the TensorFlow backend, start-up noise filtered
import tensorflow as tf  # noqa: E402
from test_kernels import batch, build, loss_and_grads, stock  # noqa: E402

from lstmcli.model.kernels import _fast_lstm, make_forward  # noqa: E402


def test_a_bad_precision_is_one_line_naming_the_key(runner, tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(HELLO.read_text().replace("  checkpoint_every: 50", "  precision: float16"))
    r = invoke(runner, "config", "validate", cfg)
    assert r.exit_code == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"Error: {cfg}: train.precision: expected ")
    assert "float32" in line and "bfloat16" in line and "float16" in line


def matmul_types(fn: Any, *args: Any) -> set[str]:
    """The operand types of every MatMul in the graph of `fn` (forward and backward)."""
    graph = tf.function(fn).get_concrete_function(*args).graph
    return {op.get_attr("T").name for op in graph.get_operations() if op.type in ("MatMul", "BatchMatMulV2")}


@pytest.mark.parametrize("unroll", [True, False])
def test_the_fast_kernel_multiplies_in_bfloat16_and_returns_float32_gradients(unroll: bool) -> None:
    vocab, layers = 6, 2
    model = build(vocab, 8, layers)
    ids = batch(4, 7, vocab)
    ref_loss, ref = loss_and_grads(model, stock(model, vocab), ids)
    fast = make_forward(model, unroll=unroll)

    def step(x: Any) -> Any:
        with tf.GradientTape() as tape:
            probs = fast(x[:, :-1], training=False)
            loss = tf.reduce_mean(keras().losses.sparse_categorical_crossentropy(x[:, 1:], probs))
        return loss, tape.gradient(loss, model.trainable_variables)

    assert matmul_types(step, ids) == {"float32"}
    set_precision(model, "bfloat16")
    assert all(_fast_lstm(layer) for layer in model.layers[:layers])  # not the stock layer's bf16
    fast = make_forward(model, unroll=unroll)
    # The recurrences, the second layer's input projection and their gradients: bfloat16;
    # the output Dense (and so the softmax and the loss) float32.
    assert matmul_types(step, ids) == {"bfloat16", "float32"}
    loss, grads = step(ids)
    assert loss.dtype == tf.float32 and all(g.dtype == tf.float32 for g in grads)
    assert loss.numpy() != ref_loss  # it did compute in bfloat16 …
    assert abs(float(loss) - ref_loss) <= 0.02 * ref_loss  # … to bfloat16's 3 significant digits
    for g, r in zip(grads, ref, strict=True):
        assert np.linalg.norm(g.numpy() - r) <= 0.05 * max(float(np.linalg.norm(r)), 1e-3)


def policies(model_file: Path) -> set[str]:
    with zipfile.ZipFile(model_file) as zf:
        config = json.loads(zf.read("config.json"))
    dtypes = [layer["config"]["dtype"] for layer in config["config"]["layers"]]
    return {d if isinstance(d, str) else d["config"]["name"] for d in dtypes}


BF16 = ("--set", "train.precision=bfloat16")


# The fast kernel's bfloat16 path, pinned: `train.kernel: auto` takes the stock layer for a run
# as short as these (model/choose.py), and the runs of 20 and 40 epochs must take the same path.
FAST = ("--set", "train.kernel=fast", "--set", "train.jit_compile=false")


def test_a_bfloat16_run_trains_saves_float32_and_resumes_to_the_bit(runner, tmp_path) -> None:
    whole, half, plain = tmp_path / "whole", tmp_path / "half", tmp_path / "plain"
    run_json(runner, "train", HELLO, "--out", whole, *BF16, *FAST, "--set", "train.epochs=40")
    run_json(runner, "train", HELLO, "--out", half, *BF16, *FAST, "--set", "train.epochs=20")
    run_json(runner, "train", "--resume", half, "--set", "train.epochs=40")
    assert weights_sha256(half / "model.keras") == weights_sha256(whole / "model.keras")
    record = json.loads((whole / "run.json").read_text())
    assert record["precision"] == "bfloat16" and record["kernel"] == "fast"
    assert json.loads((half / "run.json").read_text())["precision"] == "bfloat16"
    # A stock float32 file: the NumPy reader takes it, predict and inspect run on it.
    assert policies(whole / "model.keras") == {"float32"}
    r = run_json(runner, "predict", whole, "hell")
    assert r["engine"] == "numpy" and r["results"][0]["next"]
    assert run_json(runner, "inspect", whole)["source"] == "run directory"
    # Close to float32 on the same run, and not the same numbers.
    run_json(runner, "train", HELLO, "--out", plain, *FAST, "--set", "train.epochs=40")
    loss = json.loads((whole / "metrics.json").read_text())["loss"]
    loss32 = json.loads((plain / "metrics.json").read_text())["loss"]
    assert loss != loss32 and abs(loss - loss32) <= 0.05 * loss32


def test_the_stock_layer_trains_in_bfloat16_too(runner, tmp_path) -> None:
    out = tmp_path / "stock"
    r = run_json(
        runner, "train", HELLO, "--out", out, *BF16, "--set", "train.kernel=stock", "--set", "train.epochs=5"
    )
    assert r["epochs"] == 5 and policies(out / "model.keras") == {"float32"}
    assert json.loads((out / "run.json").read_text())["kernel"] == "stock"
