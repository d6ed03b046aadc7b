"""The fast LSTM kernel computes what the stock Keras model computes: probabilities, gradients, training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcli.model.backend import keras

keras()  # Keras on the TensorFlow backend, start-up noise filtered
import keras as k  # noqa: E402
import tensorflow as tf  # noqa: E402

from lstmcli.model.kernels import make_forward  # noqa: E402

GRAD_RTOL = 1e-5  # ‖g_fast - g_stock‖ / ‖g_stock‖ per variable (norm-relative)
# unrolled (True), looped (False), or K steps per loop iteration (partial unrolling)
UNROLL = st.one_of(st.booleans(), st.integers(2, 5))


def build(
    vocab: int, units: int, layers: int, dropout: float = 0.0, cell: str = "lstm", seed: int = 1
) -> Any:
    """The model lstmcli's backend.build_model builds, with its weights moved away from the
    initialiser (a bias of exactly 0/1 would hide a gate-order mistake)."""
    k.utils.set_random_seed(seed)
    cls = {"lstm": k.layers.LSTM, "gru": k.layers.GRU, "simple_rnn": k.layers.SimpleRNN}[cell]
    stack: list[Any] = [k.Input(shape=(None, vocab))]
    for _ in range(layers):
        stack.append(cls(units, return_sequences=True))
        if dropout > 0:
            stack.append(k.layers.Dropout(dropout))
    stack.append(k.layers.Dense(vocab, activation="softmax"))
    model = k.Sequential(stack)
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(w.numpy() + rng.normal(0.0, 0.3, w.shape).astype(np.float32))
    return model


def batch(b: int, t: int, vocab: int, seed: int = 0) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).integers(0, vocab, (b, t + 1)), tf.int32)


def loss_and_grads(model: Any, probs_of: Any, ids: tf.Tensor) -> tuple[float, list[np.ndarray]]:
    with tf.GradientTape() as tape:
        probs = probs_of(ids[:, :-1])
        loss = tf.reduce_mean(k.losses.sparse_categorical_crossentropy(ids[:, 1:], probs))
    grads = tape.gradient(loss, model.trainable_variables)
    return float(loss), [np.asarray(g) for g in grads]


def stock(model: Any, vocab: int) -> Any:
    return lambda ids: model(tf.one_hot(ids, vocab), training=False)


def assert_grads_close(fast: list[np.ndarray], ref: list[np.ndarray]) -> None:
    assert len(fast) == len(ref)
    for n, (a, b) in enumerate(zip(fast, ref, strict=True)):
        scale = max(float(np.linalg.norm(b)), 1e-6)  # T = 1: the recurrent kernel's gradient is 0
        rel = float(np.linalg.norm(a - b)) / scale
        assert rel <= GRAD_RTOL, f"variable {n}: relative gradient error {rel:.2e}"


@settings(max_examples=10, deadline=None)
@given(
    b=st.integers(1, 5),
    t=st.integers(1, 7),
    vocab=st.integers(2, 9),
    units=st.integers(1, 6),
    layers=st.integers(1, 2),
    chains=st.integers(1, 3),
    unroll=UNROLL,
)
def test_gradients_match_keras_autodiff(
    b: int, t: int, vocab: int, units: int, layers: int, chains: int, unroll: bool | int
) -> None:
    """Every variable's gradient, 1 and 2 layers, any shape, unrolled, looped or partially unrolled."""
    check_gradients(b, t, vocab, units, layers, chains, unroll, xla=False)


@pytest.mark.parametrize("unroll", [True, False, 3])
def test_gradients_match_keras_autodiff_under_xla(unroll: bool | int) -> None:
    """The recurrence compiled as XLA clusters (xla=True): compiling takes seconds, so two cases."""
    check_gradients(3, 4, 5, 3, 2, 2, unroll, xla=True)


def check_gradients(
    b: int, t: int, vocab: int, units: int, layers: int, chains: int, unroll: bool | int, xla: bool
) -> None:
    model = build(vocab, units, layers)
    ids = batch(b, t, vocab)
    ref_loss, ref = loss_and_grads(model, stock(model, vocab), ids)
    fast = make_forward(model, chains=chains, unroll=unroll, xla=xla)
    loss, got = loss_and_grads(model, lambda x: fast(x, training=False), ids)
    assert abs(loss - ref_loss) <= 1e-5 * max(1.0, abs(ref_loss))
    assert_grads_close(got, ref)


@pytest.mark.parametrize(
    ("b", "t", "vocab", "units", "layers"), [(3, 5, 7, 4, 1), (4, 9, 6, 8, 2), (2, 1, 5, 3, 2)]
)
def test_probabilities_match_the_model(b: int, t: int, vocab: int, units: int, layers: int) -> None:
    model = build(vocab, units, layers)
    ids = batch(b, t, vocab)[:, :-1]
    expected = model(tf.one_hot(ids, vocab), training=False)
    got = make_forward(model)(ids, training=False)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert got.shape == (b, t, vocab)


def test_dropout_layers_are_the_models_own() -> None:
    """Dropout = 0.5 in training: the model's own Dropout layers, with its own seed, draw the same
    masks as the stock model does, so probabilities and gradients match."""
    vocab, units = 6, 5
    model = build(vocab, units, 2, dropout=0.5)
    ids = batch(3, 6, vocab)
    fast = make_forward(model)
    states = [layer.seed_generator.state for layer in model.layers if isinstance(layer, k.layers.Dropout)]
    start = [s.numpy() for s in states]
    ref_loss, ref = loss_and_grads(model, lambda x: model(tf.one_hot(x, vocab), training=True), ids)
    after = [s.numpy() for s in states]
    for s, v in zip(states, start, strict=True):  # replay the same draws
        s.assign(v)
    loss, got = loss_and_grads(model, lambda x: fast(x, training=True), ids)
    assert abs(loss - ref_loss) <= 1e-5
    assert_grads_close(got, ref)
    assert all((s.numpy() == v).all() for s, v in zip(states, after, strict=True))  # as many draws
    # and at inference the dropout layers pass through
    x = ids[:, :-1]
    np.testing.assert_allclose(fast(x, training=False), model(tf.one_hot(x, vocab)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["gru", "simple_rnn"])
def test_other_cells_run_their_stock_layer(cell: str) -> None:
    model = build(5, 4, 2, cell=cell)
    ids = batch(3, 4, 5)
    ref_loss, ref = loss_and_grads(model, stock(model, 5), ids)
    fast = make_forward(model)
    loss, got = loss_and_grads(model, lambda x: fast(x, training=False), ids)
    assert loss == pytest.approx(ref_loss, abs=1e-6)
    assert_grads_close(got, ref)


# Two XLA compiles (~6 s quiet): CI's slow run; the traced partial-unrolling case stays in the default run.
@pytest.mark.slow
def test_inside_tf_function_with_a_partial_last_batch_and_xla() -> None:
    """One traced function with an unknown batch size serves a full batch and a shorter last one;
    the same under jit_compile."""
    vocab = 6
    model = build(vocab, 4, 1)
    fast = make_forward(model, chains=2)
    sig = [tf.TensorSpec([None, 5], tf.int32)]
    plain = tf.function(lambda x: fast(x, training=True), input_signature=sig)
    xla = tf.function(lambda x: fast(x, training=True), input_signature=sig, jit_compile=True)
    for b in (4, 3, 1):
        ids = batch(b, 5, vocab)[:, :-1]
        expected = model(tf.one_hot(ids, vocab))
        np.testing.assert_allclose(plain(ids), expected, atol=1e-5, rtol=0)
        np.testing.assert_allclose(xla(ids), expected, atol=1e-5, rtol=0)


def test_unknown_length_runs_the_loop_kernel() -> None:
    """T unknown at trace time: the tf.while_loop variant, same gradients."""
    vocab = 5
    model = build(vocab, 3, 2)
    ids = batch(2, 6, vocab)
    fast = make_forward(model)
    traced = tf.function(
        lambda x: fast(x, training=True), input_signature=[tf.TensorSpec([None, None], tf.int32)]
    )
    _, ref = loss_and_grads(model, stock(model, vocab), ids)
    _, got = loss_and_grads(model, traced, ids)
    assert_grads_close(got, ref)


# Steps left over after the loop, and a loop that never runs; exact fits and longer runs: slow.
@pytest.mark.parametrize(
    ("t", "per"),
    [(7, 3), pytest.param(6, 3, marks=pytest.mark.slow), (2, 5), pytest.param(9, 2, marks=pytest.mark.slow)],
)
def test_partial_unrolling_in_a_traced_step(t: int, per: int) -> None:
    """K steps per loop iteration, traced as the training step traces it (a real tf.while_loop,
    plus the T mod K steps left over, or fewer steps than K), plain and under jit_compile: the
    gradients of autodiff through the stock layer."""
    vocab = 5
    model = build(vocab, 3, 2)
    ids = batch(3, t, vocab)
    _, ref = loss_and_grads(model, stock(model, vocab), ids)
    fast = make_forward(model, chains=2, unroll=per)
    for jit in (False, True):
        step = tf.function(lambda x: loss_and_grads_graph(model, fast, x), jit_compile=jit)
        assert_grads_close([np.asarray(g) for g in step(ids)], ref)


def test_under_a_distribution_strategy() -> None:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    vocab = 5
    with strategy.scope():
        model = build(vocab, 3, 1)
    ids = batch(4, 5, vocab)
    _, ref = loss_and_grads(model, stock(model, vocab), ids)
    fast = make_forward(model)

    @tf.function
    def grads(x: tf.Tensor) -> list[tf.Tensor]:
        def replica(x: tf.Tensor) -> list[tf.Tensor]:
            return loss_and_grads_graph(model, fast, x)

        return strategy.run(replica, args=(x,))

    got = [np.asarray(g) for g in grads(ids)]
    assert_grads_close(got, ref)


def loss_and_grads_graph(model: Any, fast: Any, ids: tf.Tensor) -> list[tf.Tensor]:
    with tf.GradientTape() as tape:
        probs = fast(ids[:, :-1], training=True)
        loss = tf.reduce_mean(k.losses.sparse_categorical_crossentropy(ids[:, 1:], probs))
    return tape.gradient(loss, model.trainable_variables)


@pytest.mark.parametrize("xla", [False, True])
def test_gradients_are_bit_identical_run_to_run(xla: bool) -> None:
    """With op determinism on (as lstmcli trains), the same weights and batch give the same bits."""
    tf.config.experimental.enable_op_determinism()
    vocab = 7
    model = build(vocab, 6, 2)
    ids = batch(5, 8, vocab)
    fast = make_forward(model, chains=2, unroll=not xla, xla=xla)
    step = tf.function(lambda x: loss_and_grads_graph(model, fast, x))
    first = [np.asarray(g) for g in step(ids)]
    second = [np.asarray(g) for g in step(ids)]
    for a, b in zip(first, second, strict=True):
        assert a.tobytes() == b.tobytes()


def adam_losses(fast_path: bool, steps: int, seed: int = 3) -> list[float]:
    vocab, units = 8, 6
    model = build(vocab, units, 2, seed=seed)
    opt = k.optimizers.Adam(0.01)
    starts = np.random.default_rng(seed).integers(0, vocab, (4, 6, 1))
    data = (starts + np.arange(9)) % vocab  # learnable: each token is the previous one + 1
    probs_of = (
        make_forward(model)
        if fast_path
        else (lambda x, training: model(tf.one_hot(x, vocab), training=training))
    )

    @tf.function
    def step(ids: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            probs = probs_of(ids[:, :-1], training=True)
            loss = tf.reduce_mean(k.losses.sparse_categorical_crossentropy(ids[:, 1:], probs))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return [float(step(tf.constant(data[n % len(data)], tf.int32))) for n in range(steps)]


def test_adam_training_follows_the_stock_layer() -> None:
    """100 Adam steps from the same weights: the two loss curves stay within 1e-4 (and do learn)."""
    fast = adam_losses(True, 100)
    ref = adam_losses(False, 100)
    assert max(abs(a - b) for a, b in zip(fast, ref, strict=True)) <= 1e-4
    assert fast[-1] < 0.5 * fast[0]


# ---------------------------------------------------------------- padding masked (task: classify)

PAD = -1  # lstmcli.tasks.classify.PAD: one_hot(-1) is an all-zero row, which Masking masks


def build_masked(
    vocab: int, units: int, layers: int, labels: int, *, seqs: bool, seed: int = 1, cell: str = "lstm"
) -> Any:
    """The model backend.build_model builds for `task: classify` (Masking, the last LSTM without
    return_sequences, a label head); with `seqs` every layer returns sequences (a per-step head)."""
    k.utils.set_random_seed(seed)
    cls = {"lstm": k.layers.LSTM, "gru": k.layers.GRU, "simple_rnn": k.layers.SimpleRNN}[cell]
    stack: list[Any] = [k.Input(shape=(None, vocab)), k.layers.Masking(mask_value=0.0)]
    for n in range(layers):
        stack.append(cls(units, return_sequences=seqs or n < layers - 1))
    stack.append(k.layers.Dense(labels, activation="softmax"))
    model = k.Sequential(stack)
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(w.numpy() + rng.normal(0.0, 0.3, w.shape).astype(np.float32))
    return model


def padded(b: int, t: int, vocab: int, padding: str, seed: int) -> np.ndarray:
    """Token ids with PAD on the right (classify's own padding), on the left, or anywhere."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, (b, t))
    lengths = rng.integers(0, t + 1, b)  # 0: an example of padding only
    steps = np.arange(t)[None, :]
    pad = {
        "right": steps >= lengths[:, None],
        "left": steps < (t - lengths)[:, None],
        "anywhere": rng.random((b, t)) < 0.4,
    }[padding]
    return np.where(pad, PAD, ids).astype(np.int32)


def masked_loss_and_grads(model: Any, probs_of: Any, ids: np.ndarray, labels: np.ndarray) -> Any:
    with tf.GradientTape() as tape:
        probs = probs_of(tf.constant(ids))
        loss = tf.reduce_mean(k.losses.sparse_categorical_crossentropy(tf.constant(labels), probs))
    grads = tape.gradient(loss, model.trainable_variables)
    return float(loss), [np.asarray(g) for g in grads], np.asarray(probs)


def check_masked(
    b: int,
    t: int,
    vocab: int,
    units: int,
    layers: int,
    chains: int,
    unroll: bool | int,
    xla: bool,
    padding: str,
    seqs: bool,
    seed: int = 0,
) -> None:
    n_labels = 3
    model = build_masked(vocab, units, layers, n_labels, seqs=seqs, seed=seed + 1)
    ids = padded(b, t, vocab, padding, seed)
    shape = (b, t) if seqs else (b,)
    labels = np.random.default_rng(seed + 7).integers(0, n_labels, shape)
    ref_loss, ref, ref_p = masked_loss_and_grads(
        model, lambda x: model(tf.one_hot(x, vocab), training=False), ids, labels
    )
    fast = make_forward(model, chains=chains, unroll=unroll, xla=xla)
    loss, got, p = masked_loss_and_grads(model, lambda x: fast(x, training=False), ids, labels)
    np.testing.assert_allclose(p, ref_p, atol=1e-5, rtol=0)
    assert abs(loss - ref_loss) <= 1e-5 * max(1.0, abs(ref_loss))
    assert_grads_close(got, ref)


@settings(max_examples=12, deadline=None)
@given(
    b=st.integers(1, 5),
    t=st.integers(1, 7),
    vocab=st.integers(2, 7),
    units=st.integers(1, 5),
    layers=st.integers(1, 2),
    chains=st.integers(1, 3),
    unroll=UNROLL,
    padding=st.sampled_from(["right", "left", "anywhere"]),
    seqs=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_masked_gradients_match_keras_masking(
    b: int,
    t: int,
    vocab: int,
    units: int,
    layers: int,
    chains: int,
    unroll: bool | int,
    padding: str,
    seqs: bool,
    seed: int,
) -> None:
    """Masking + LSTM as task: classify builds it: probabilities, loss and every variable's
    gradient equal Keras autodiff through the stock layers, with padding left, right or anywhere,
    a label head on the last step or a head on every step, unrolled or looped."""
    check_masked(b, t, vocab, units, layers, chains, unroll, False, padding, seqs, seed)


@pytest.mark.parametrize("unroll", [pytest.param(True, marks=pytest.mark.slow), False, 4])
def test_masked_gradients_under_xla(unroll: bool | int) -> None:
    check_masked(4, 6, 5, 3, 2, 2, unroll, True, "right", False)
    check_masked(3, 5, 4, 3, 1, 1, unroll, True, "left", True, seed=1)


@pytest.mark.parametrize("cell", ["gru", "simple_rnn"])
def test_masked_other_cells_get_the_mask(cell: str) -> None:
    """GRU and SimpleRNN run their stock layer inside the fast forward: the mask reaches them."""
    vocab = 5
    model = build_masked(vocab, 4, 2, 3, seqs=False, cell=cell)
    ids = padded(4, 6, vocab, "right", 5)
    labels = np.array([0, 2, 1, 1])
    _, ref, ref_p = masked_loss_and_grads(model, lambda x: model(tf.one_hot(x, vocab)), ids, labels)
    fast = make_forward(model)
    _, got, p = masked_loss_and_grads(model, lambda x: fast(x, training=False), ids, labels)
    np.testing.assert_allclose(p, ref_p, atol=1e-6, rtol=0)
    assert_grads_close(got, ref)


def test_masked_unknown_length_and_batch_in_tf_function() -> None:
    """A traced step with unknown B and T (classify's batches): the while-loop kernel, masked."""
    vocab = 5
    model = build_masked(vocab, 4, 2, 3, seqs=False)
    ids = padded(4, 6, vocab, "right", 3)
    labels = np.array([0, 2, 1, 1])
    fast = make_forward(model)
    traced = tf.function(
        lambda x: fast(x, training=True), input_signature=[tf.TensorSpec([None, None], tf.int32)]
    )
    _, ref, ref_p = masked_loss_and_grads(model, lambda x: model(tf.one_hot(x, vocab)), ids, labels)
    _, got, p = masked_loss_and_grads(model, traced, ids, labels)
    np.testing.assert_allclose(p, ref_p, atol=1e-5, rtol=0)
    assert_grads_close(got, ref)


def classify_adam_losses(fast_path: bool, steps: int, seed: int = 3) -> list[float]:
    """A long-lag toy: the label is the first token's parity, read after the example's last token
    (right padding, lengths 2..8), as configs/long-lag.yaml asks on a larger scale."""
    vocab, units, t = 4, 6, 8
    model = build_masked(vocab, units, 2, 2, seqs=False, seed=seed)
    opt = k.optimizers.Adam(0.02)
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(4):
        ids = rng.integers(0, vocab, (8, t))
        lengths = rng.integers(2, t + 1, 8)
        ids = np.where(np.arange(t)[None, :] >= lengths[:, None], PAD, ids).astype(np.int32)
        batches.append((tf.constant(ids), tf.constant(ids[:, 0] % 2)))
    probs_of = (
        make_forward(model)
        if fast_path
        else (lambda x, training: model(tf.one_hot(x, vocab), training=training))
    )

    @tf.function
    def step(ids: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(k.losses.sparse_categorical_crossentropy(y, probs_of(ids, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return [float(step(*batches[n % len(batches)])) for n in range(steps)]


def test_classify_adam_training_follows_the_stock_layer() -> None:
    """100 Adam steps of a masked classifier from the same weights: the loss curves of the fast
    kernel and the stock Masking + LSTM stay within 1e-4 at every step, and both learn."""
    fast = classify_adam_losses(True, 100)
    ref = classify_adam_losses(False, 100)
    assert max(abs(a - b) for a, b in zip(fast, ref, strict=True)) <= 1e-4
    assert fast[-1] < 0.5 * fast[0]
