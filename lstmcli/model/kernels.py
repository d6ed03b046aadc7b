"""Fast LSTM training kernel: the stock Keras model's forward pass from token ids, with its own weights.

`make_forward(model)` returns a function computing the probabilities of the model lstmcli builds
(`backend.build_model`: one-hot → recurrent layers (+ Dropout) → Dense softmax) from int32 token ids.
Each LSTM layer runs a hand-written kernel instead of `keras.layers.LSTM`:

- the input projection is hoisted out of the recurrence: for the first layer one-hot @ kernel is a
  row gather of the kernel, for the layers above one matmul over the whole sequence;
- the recurrence is unrolled in the graph (T known at trace time), one h @ R matmul a step, the
  gate math on whole (B, 4U) tensors;
- backpropagation through time is written by hand (`tf.custom_gradient`): one dh @ Rᵀ matmul a
  step, the rest vectorised over all steps, dR as one matmul over the sequence.

The variables are the layers' own (`kernel`, `recurrent_kernel`, `bias` in Keras's i, f, g, o
column order), so `tape.gradient(loss, model.trainable_variables)` returns gradients in the stock
layout and the saved model stays a stock Keras model. GRU and SimpleRNN layers, and LSTM layers
configured in any way `build_model` does not (other activations, inner dropout…), run their stock
layer inside the same function.

Padding (`task: classify`: a `Masking` layer after the one-hot input, padded ids < 0 give all-zero
rows) is masked as Keras masks it: a masked step carries h and c through unchanged (its output is
the carried h), and a last layer without `return_sequences` returns the h after the last unmasked
step. The backward pass is the same recurrence with the masked steps' factors set so that dz = 0
there and dh, dc flow through to the step before (see `_masked`).

Mixed precision (`train.precision: bfloat16`, `backend.set_precision`): a layer whose cell computes
in bfloat16 runs every matmul of the kernel (the input projection, h @ R, dz @ Rᵀ and dR) on
bfloat16 operands, its result cast back to float32 (`_mm`); the gate math, the states, the
gradients returned for the variables and the optimizer stay float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The recurrence is unrolled when T is known at trace time and at most this long; longer or
# unknown T runs a tf.while_loop (same mathematics, more per-step overhead).
MAX_UNROLL = 512

Forward = Callable[..., Any]


def make_forward(model: Any, *, chains: int = 2, unroll: bool | int = True, xla: bool = False) -> Forward:
    """`forward(ids, training)`: the probabilities `model(one_hot(ids), training=training)`, fast.

    `ids`: int32 token ids of shape (B, T), any B ≥ 1 (a shorter last batch too) and T ≥ 1. T
    should be static (known when the function is traced) for the unrolled kernel; an unknown T
    (or T > MAX_UNROLL, or `unroll=False`) runs the same mathematics in a tf.while_loop.
    `unroll=K` (an int ≥ 2) is partial unrolling: a tf.while_loop whose body runs K steps (the
    T mod K steps left over run unrolled after it), so XLA compiles a body of K steps instead of
    T (compile time of the loop, fewer loop iterations); `unroll=1` is `True`, `0` is `False`.
    `chains` splits the batch into that many independent recurrences (uneven splits are fine;
    2 measured best without XLA on 2 cores, see benchmarks/README.md). `xla` compiles the
    recurrence's forward and backward passes each as one XLA cluster even when the caller's step
    is not compiled (with `unroll`, compiling takes ~20 s for T=64: prefer `unroll=False` with it).

    Works eagerly and inside `tf.function` (with or without `jit_compile`, which fuses the whole
    step and measured fastest), per replica inside `strategy.run` (MirroredStrategy,
    MultiWorkerMirroredStrategy: no collective inside), and with op determinism enabled: the same
    weights and batch give bit-identical gradients. Dropout and Dense are the model's own layers
    (same random draws as the stock model given the same seed generator state).
    """
    import keras
    import tensorflow as tf

    vocab = int(model.inputs[0].shape[-1])
    layers = list(model.layers)
    made: dict[tuple[bool, str], Any] = {}

    def recurrences(masked: bool, dtype: str) -> Any:
        if (masked, dtype) not in made:
            made[masked, dtype] = _recurrence(chains, unroll, xla, masked=masked, dtype=dtype)
        return made[masked, dtype]

    def forward(ids: Any, training: bool = False) -> Any:
        ids = tf.convert_to_tensor(ids)
        ids = tf.cast(ids, tf.int32)
        h: Any = None  # batch-major (B, T, features) between layers
        mask: Any = None  # (B, T) bool once a Masking layer has run, as Keras propagates it
        for layer in layers:
            if isinstance(layer, keras.layers.Masking):
                ids, h, mask = _masking(layer, ids, h, vocab)
            elif _fast_lstm(layer):
                h, mask = _lstm(layer, ids, h, mask, recurrences)
            else:
                h, mask = _stock(layer, ids, h, mask, vocab, training)
        return h

    return forward


def _masking(layer: Any, ids: Any, h: Any, vocab: int) -> tuple[Any, Any, Any]:
    """A Masking layer: (ids, h, mask) after it. Right after the one-hot input it masks the ids
    outside the vocabulary and leaves h to the next layer."""
    import tensorflow as tf

    if h is None and float(layer.mask_value) == 0.0:
        # one_hot(id) is an all-zero row exactly when id is outside [0, vocab)
        mask = (ids >= 0) & (ids < vocab)
        ids = tf.where(mask, ids, 0)  # a valid row to gather; masked, it is never used
        return ids, h, mask
    if h is None:
        h = tf.one_hot(ids, vocab, dtype=tf.float32)
    mask = tf.reduce_any(tf.not_equal(h, layer.mask_value), axis=-1)
    return ids, layer(h), mask


def _lstm(layer: Any, ids: Any, h: Any, mask: Any, recurrences: Callable[..., Any]) -> tuple[Any, Any]:
    """An LSTM layer through the hand-written kernel: (h, mask) after it."""
    import tensorflow as tf

    cell = layer.cell
    dtype = str(cell.compute_dtype)
    recurrence, masked_recurrence = recurrences(False, dtype), recurrences(True, dtype)
    kernel = tf.convert_to_tensor(cell.kernel)
    bias = tf.convert_to_tensor(cell.bias)
    # The bias joins the input projection, outside the recurrence: (x W + b) + h R
    # rounds differently from Keras's (x W + h R) + b by an ulp, nothing more.
    if h is None:
        xwb = gather_rows(kernel + bias, tf.transpose(ids))  # (T, B, 4U)
    else:
        xwb = _project(tf.transpose(tf.cast(h, tf.float32), [1, 0, 2]), kernel, dtype) + bias
    recurrent = tf.convert_to_tensor(cell.recurrent_kernel)
    if mask is None:
        seq = recurrence(xwb, recurrent)
    else:  # 1.0 where a step is masked (carried), time-major (T, B, 1)
        keep = tf.cast(tf.logical_not(tf.transpose(mask))[:, :, None], xwb.dtype)
        seq = masked_recurrence(xwb, recurrent, keep)
    if layer.return_sequences:
        return tf.transpose(seq, [1, 0, 2]), mask
    return seq[-1], None  # the last step's output: with a mask, the h after the last unmasked step


def _stock(layer: Any, ids: Any, h: Any, mask: Any, vocab: int, training: bool) -> tuple[Any, Any]:
    """Any other layer, run as itself (an RNN given the mask): (h, mask) after it."""
    import keras
    import tensorflow as tf

    if h is None:
        h = tf.one_hot(ids, vocab, dtype=tf.float32)
    if mask is not None and isinstance(layer, keras.layers.RNN):
        h = layer(h, training=training, mask=mask)
        if not layer.return_sequences:
            mask = None
        return h, mask
    return layer(h, training=training), mask


def _fast_lstm(layer: Any) -> bool:
    """An LSTM layer with exactly the mathematics the kernel computes."""
    import keras

    if not isinstance(layer, keras.layers.LSTM):
        return False
    cell = layer.cell
    return bool(
        not layer.go_backwards
        and not layer.stateful
        and not layer.return_state
        and cell.use_bias
        and cell.dropout == 0
        and cell.recurrent_dropout == 0
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and cell.compute_dtype in ("float32", "bfloat16")
        and cell.variable_dtype == "float32"
    )


def _mm(a: Any, b: Any, dtype: str, **kw: Any) -> Any:
    """a @ b on `dtype` operands (bfloat16 under mixed precision), the result in float32."""
    import tensorflow as tf

    if dtype == "float32":
        return tf.matmul(a, b, **kw)
    return tf.cast(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype), **kw), tf.float32)


def _project(x_tm: Any, kernel: Any, dtype: str = "float32") -> Any:
    """(T, B, D) @ (D, 4U) as one matmul over the whole sequence."""
    import tensorflow as tf

    s = tf.shape(x_tm)
    flat = _mm(tf.reshape(x_tm, [-1, s[2]]), kernel, dtype)
    return tf.reshape(flat, [s[0], s[1], tf.shape(kernel)[1]])


def gather_rows(kernel: Any, ids_tm: Any) -> Any:
    """one_hot(ids) @ kernel as a row gather, with a dense (deterministic) gradient for the kernel."""
    import tensorflow as tf

    @tf.custom_gradient  # type: ignore[untyped-decorator]
    def gather(kernel: Any) -> Any:
        def grad(dy: Any) -> Any:
            flat = tf.reshape(dy, [-1, tf.shape(kernel)[1]])
            return tf.math.unsorted_segment_sum(flat, tf.reshape(ids_tm, [-1]), tf.shape(kernel)[0])

        return tf.gather(kernel, ids_tm), grad

    return gather(kernel)


_SAVED = ("h", "local", "dc_dh", "f")
_SAVED_MASKED = (*_SAVED, "keep")


def _recurrence(
    chains: int, unroll: bool | int, xla: bool, masked: bool = False, dtype: str = "float32"
) -> Callable[..., Any]:
    """The custom-gradient recurrence `seq(xwb, recurrent)` (with `masked`: `seq(xwb, recurrent,
    keep)`, keep (T, B, 1) 1.0 at masked steps); with `xla` its forward and its backward pass each
    run as one XLA cluster even when the caller's step is not compiled. `dtype`: the matmuls'
    operand type (`_mm`); R is cast once per pass, its gradient comes back in float32."""
    import tensorflow as tf

    names = _SAVED_MASKED if masked else _SAVED

    def forward_all(xwb: Any, recurrent: Any, *keep: Any) -> list[Any]:
        keeps = _split(keep[0], chains) if keep else [None] * chains
        recurrent = tf.cast(recurrent, dtype)  # once, not at every step
        saved = [
            _forward(p, recurrent, unroll, in_step=xla, keep=m)
            for p, m in zip(_split(xwb, chains), keeps, strict=True)
        ]
        return [_join([s[k] for s in saved]) for k in names]

    def backward_all(dh: Any, recurrent: Any, *saved: Any) -> tuple[Any, Any]:
        recurrent_t = tf.transpose(tf.cast(recurrent, dtype))  # once, not at every step
        parts = [_split(x, chains) for x in (dh, *saved)]
        outs = [
            _backward(d, dict(zip(names, s, strict=True)), recurrent_t, unroll)
            for d, *s in zip(*parts, strict=True)
        ]
        return _join([o[0] for o in outs]), tf.add_n([o[1] for o in outs])

    if xla:
        forward_all = tf.function(forward_all, jit_compile=True, autograph=False)
        backward_all = tf.function(backward_all, jit_compile=True, autograph=False)

    @tf.custom_gradient  # type: ignore[untyped-decorator]
    def seq(xwb: Any, recurrent: Any) -> Any:
        # stop_gradient: autodiff must not see inside (it would make the compiled function output
        # its intermediates for a gradient of its own); the gradient is `grad` below.
        saved = forward_all(tf.stop_gradient(xwb), tf.stop_gradient(recurrent))

        def grad(dh: Any) -> Any:
            return backward_all(dh, recurrent, *saved)

        return saved[0], grad

    @tf.custom_gradient  # type: ignore[untyped-decorator]
    def seq_masked(xwb: Any, recurrent: Any, keep: Any) -> Any:
        saved = forward_all(tf.stop_gradient(xwb), tf.stop_gradient(recurrent), tf.stop_gradient(keep))

        def grad(dh: Any) -> Any:
            return (*backward_all(dh, recurrent, *saved), tf.zeros_like(keep))  # the mask: no gradient

        return saved[0], grad

    return seq_masked if masked else seq  # type: ignore[no-any-return]


def _masked(factors: dict[str, Any], keep: Any) -> dict[str, Any]:
    """The backward factors of masked steps (keep = 1.0; 0.0 elsewhere, exact either way): a
    masked step computed h = h_prev and c = c_prev, so its dz is 0 (local = dc_dh = 0), dc passes
    to the step before unchanged (f = 1) and so does dh (`keep` adds dh to dh_prev, in `_backward`)."""
    live = 1.0 - keep
    return {
        **factors,
        "local": factors["local"] * live,
        "dc_dh": factors["dc_dh"] * live,
        "f": factors["f"] * live + keep,
        "keep": keep,
    }


def _join(parts: list[Any]) -> Any:
    import tensorflow as tf

    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)


def _split(x: Any, chains: int) -> list[Any]:
    import tensorflow as tf

    if chains == 1:
        return [x]
    b = tf.shape(x)[1]
    size = -(-b // chains)  # ceil: the last chain takes the rest
    sizes = [tf.minimum(size, tf.maximum(b - k * size, 0)) for k in range(chains)]
    parts: list[Any] = tf.split(x, tf.stack(sizes), axis=1, num=chains)
    return parts


def _per_iteration(unroll: bool | int, steps: int | None) -> int:
    """Steps per tf.while_loop iteration: 0 for the fully unrolled recurrence (`unroll` True or 1,
    T static and ≤ MAX_UNROLL), 1 for the plain loop, K for `unroll=K` (T static)."""
    if steps is None or not unroll:
        return 1
    if unroll is True or unroll == 1:
        return 0 if steps <= MAX_UNROLL else 1
    return max(1, min(int(unroll), steps))


def _forward(xw: Any, recurrent: Any, unroll: bool | int, in_step: bool, keep: Any = None) -> dict[str, Any]:
    """The forward recurrence of one chain and what the backward pass needs, stacked over T.
    `keep` (T, B, 1): 1.0 at masked steps, which carry h and c through unchanged (Keras's masking).

    The backward factors (`_factors`) are computed inside each step when `in_step` (under XLA
    they fuse into the step's gate math: no extra pass over memory), else once over all steps
    after the loop (without XLA, a dozen small ops a step would cost more than one pass).
    """
    import tensorflow as tf

    steps = xw.shape[0]
    units = recurrent.shape[0]
    per = _per_iteration(unroll, steps)
    if per:
        return _forward_loop(xw, recurrent, in_step, keep, per)
    xs = tf.unstack(xw, num=steps)
    carry = None if keep is None else tf.unstack(keep > 0.5, num=steps)
    keeps = None if keep is None else tf.unstack(keep, num=steps)
    c: Any = tf.zeros_like(xs[0][:, :units])
    h: Any = None if keep is None else c
    kept: dict[str, list[Any]] = {}
    for t in range(steps):
        z = xs[t] if h is None else xs[t] + _mm(h, recurrent, recurrent.dtype.name)
        c_prev, h_prev = c, h
        i, f, g, o, c, tc = _cell(z, c_prev, units)
        h = o * tc
        if carry is not None:
            h, c = tf.where(carry[t], h_prev, h), tf.where(carry[t], c_prev, c)
        # Without in_step only z and c are kept: the gates are recomputed from the stacked z in
        # one pass (a per-step concat of the four gates cost more: 7 ms/step of ConcatV2).
        if in_step:
            step = _factors(i, f, g, o, c_prev, tc)
            step = step if keeps is None else _masked(step, keeps[t])
        else:
            step = {"z": z, "c": c}
        for k, v in {"h": h, **step}.items():
            kept.setdefault(k, []).append(v)
    stacked = {k: tf.stack(v) for k, v in kept.items()}
    return stacked if in_step else _stacked_factors(stacked, units, keep)


def _cell(z: Any, c_prev: Any, units: int) -> tuple[Any, Any, Any, Any, Any, Any]:
    """One step's gates i, f, g, o (activated), the new c and tanh(c), as the Keras LSTM cell."""
    import tensorflow as tf

    i_f = tf.sigmoid(z[:, : 2 * units])
    g = tf.tanh(z[:, 2 * units : 3 * units])
    o = tf.sigmoid(z[:, 3 * units :])
    i, f = i_f[:, :units], i_f[:, units:]
    c = f * c_prev + i * g
    return i, f, g, o, c, tf.tanh(c)


def _factors(i: Any, f: Any, g: Any, o: Any, c_prev: Any, tc: Any) -> dict[str, Any]:
    """What does not depend on the backward recurrence, elementwise (one step or all steps):
    dc += dh · o (1 - tanh²c) ("dc_dh"); dz = [dc, dc, dc, dh] · local with
    local = [g i(1-i), c_prev f(1-f), i (1-g²), tanh(c) o(1-o)]; f carries dc to the step before."""
    import tensorflow as tf

    local = tf.concat([g * i * (1.0 - i), c_prev * f * (1.0 - f), i * (1.0 - g * g), tc * o * (1.0 - o)], -1)
    return {"local": local, "dc_dh": o * (1.0 - tc * tc), "f": f}


def _stacked_factors(stacked: dict[str, Any], units: int, keep: Any = None) -> dict[str, Any]:
    """`_factors` over all steps at once from the stacked gates and cell states (c carried through
    masked steps, so c_prev is the shifted c; the masked steps' factors are then `_masked`)."""
    import tensorflow as tf

    z, c = stacked["z"], stacked["c"]
    i_f = tf.sigmoid(z[..., : 2 * units])
    i, f = i_f[..., :units], i_f[..., units:]
    g = tf.tanh(z[..., 2 * units : 3 * units])
    o = tf.sigmoid(z[..., 3 * units :])
    c_prev = tf.concat([tf.zeros_like(c[:1]), c[:-1]], axis=0)
    factors = _factors(i, f, g, o, c_prev, tf.tanh(c))
    return {"h": stacked["h"], **(factors if keep is None else _masked(factors, keep))}


def _forward_loop(xw: Any, recurrent: Any, in_step: bool, keep: Any = None, per: int = 1) -> dict[str, Any]:
    """The forward recurrence as a tf.while_loop of `per` steps an iteration (T static when
    per > 1; the T mod per steps left over run unrolled after the loop)."""
    import tensorflow as tf

    units = recurrent.shape[0]
    static = xw.shape[0]
    steps = static if static is not None else tf.shape(xw)[0]  # XLA needs it static
    batch = tf.shape(xw)[1]
    zero = tf.zeros([batch, units], xw.dtype)
    names = ["h", "local", "dc_dh", "f"] if in_step else ["h", "z", "c"]
    if in_step and keep is not None:
        names.append("keep")
    arrays = [tf.TensorArray(xw.dtype, size=steps) for _ in names]

    def one(t: Any, h_prev: Any, c_prev: Any, arrays: list[Any]) -> tuple[Any, Any, list[Any]]:
        z = xw[t] + _mm(h_prev, recurrent, recurrent.dtype.name)
        i, f, g, o, c, tc = _cell(z, c_prev, units)
        h = o * tc
        if keep is not None:
            carry = keep[t] > 0.5
            h, c = tf.where(carry, h_prev, h), tf.where(carry, c_prev, c)
        if in_step:
            step = _factors(i, f, g, o, c_prev, tc)
            step = step if keep is None else _masked(step, keep[t])
        else:
            step = {"z": z, "c": c}
        values = {"h": h, **step}
        return h, c, [ta.write(t, values[k]) for ta, k in zip(arrays, names, strict=True)]

    def body(n: Any, h: Any, c: Any, *arrays: Any) -> Any:
        out = list(arrays)
        for j in range(per):
            h, c, out = one(n * per + j, h, c, out)
        return (n + 1, h, c, *out)

    loops = steps // per
    h, c = zero, zero
    if static is None or loops:
        _, h, c, *arrays = tf.while_loop(
            lambda n, *_: n < loops,
            body,
            [tf.constant(0), zero, zero, *arrays],
            maximum_iterations=_bound(loops),
        )
    for t in range(loops * per if static is not None else 0, static or 0):  # per > 1: the steps left over
        h, c, arrays = one(t, h, c, arrays)
    stacked = {k: ta.stack() for k, ta in zip(names, arrays, strict=True)}
    return stacked if in_step else _stacked_factors(stacked, units, keep)


def _backward(dh_out: Any, saved: dict[str, Any], recurrent_t: Any, unroll: bool | int) -> tuple[Any, Any]:
    """Backpropagation through time for one chain: d xwb (T, B, 4U) and d R, given Rᵀ."""
    import tensorflow as tf

    units = recurrent_t.shape[1]
    dtype = recurrent_t.dtype.name
    h, local, dc_dh, f = (saved[k] for k in _SAVED)
    keep = saved.get("keep")  # masked steps pass dh on to the step before
    steps = dh_out.shape[0]
    per = _per_iteration(unroll, steps)
    if per:
        dz = _backward_loop(dh_out, dc_dh, local, f, recurrent_t, keep, per)
    else:
        dhs, dcdhs, locals_, fs = (tf.unstack(x, num=steps) for x in (dh_out, dc_dh, local, f))
        keeps = None if keep is None else tf.unstack(keep, num=steps)
        dzs: list[Any] = [None] * steps
        dh_next: Any = None
        dc_next: Any = None
        for t in reversed(range(steps)):
            dh = dhs[t] if dh_next is None else dhs[t] + dh_next
            dc = dh * dcdhs[t] if dc_next is None else dh * dcdhs[t] + dc_next
            dzs[t] = tf.concat([dc, dc, dc, dh], axis=1) * locals_[t]
            if t > 0:
                dc_next = dc * fs[t]
                dh_next = _mm(dzs[t], recurrent_t, dtype)
                if keeps is not None:
                    dh_next = dh_next + dh * keeps[t]
        dz = tf.stack(dzs)
    # dR = Σ_t h_{t-1}ᵀ dz_t as one matmul over the sequence (h_{-1} = 0 drops step 0).
    drec = _mm(tf.reshape(h[:-1], [-1, units]), tf.reshape(dz[1:], [-1, 4 * units]), dtype, transpose_a=True)
    return dz, drec


def _backward_loop(
    dh_out: Any, dc_dh: Any, local: Any, f: Any, recurrent_t: Any, keep: Any = None, per: int = 1
) -> Any:
    """dz over all steps, backwards: the T mod `per` last steps unrolled, then a tf.while_loop of
    `per` steps an iteration (as `_forward_loop` ran them)."""
    import tensorflow as tf

    units = recurrent_t.shape[1]
    static = dh_out.shape[0]
    steps = static if static is not None else tf.shape(dh_out)[0]
    batch = tf.shape(dh_out)[1]
    zero = tf.zeros([batch, units], dh_out.dtype)
    dzs = tf.TensorArray(dh_out.dtype, size=steps)

    def one(t: Any, dh_next: Any, dc_next: Any, dzs: Any) -> tuple[Any, Any, Any]:
        dh = dh_out[t] + dh_next
        dc = dh * dc_dh[t] + dc_next
        dz = tf.concat([dc, dc, dc, dh], axis=1) * local[t]
        dh_prev = _mm(dz, recurrent_t, recurrent_t.dtype.name)
        if keep is not None:
            dh_prev = dh_prev + dh * keep[t]
        return dh_prev, dc * f[t], dzs.write(t, dz)

    def body(n: Any, dh: Any, dc: Any, dzs: Any) -> Any:
        for j in reversed(range(per)):
            dh, dc, dzs = one(n * per + j, dh, dc, dzs)
        return n - 1, dh, dc, dzs

    loops = steps // per
    dh, dc = zero, zero
    for t in reversed(range(loops * per if static is not None else 0, static or 0)):  # the left over, first
        dh, dc, dzs = one(t, dh, dc, dzs)
    if static is None or loops:
        _, _, _, dzs = tf.while_loop(
            lambda n, *_: n >= 0, body, [loops - 1, dh, dc, dzs], maximum_iterations=_bound(loops)
        )
    return dzs.stack()


def _bound(steps: Any) -> Any:
    """maximum_iterations for XLA (which needs the TensorArrays' size bounded); None when eager,
    where tf.while_loop with a bound breaks on TensorArray writes (TF 2.21)."""
    import tensorflow as tf

    return None if tf.executing_eagerly() else steps
