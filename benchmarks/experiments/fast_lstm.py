# Prototype kept for the next person working on training speed (issue 6); NOT used by lstmcli.
#
# A keras.layers.LSTM-compatible layer: the input projection hoisted out of the recurrence (one-hot
# x kernel is a row gather of the kernel, done once for the whole sequence), a Python-unrolled
# recurrence in the graph, and hand-written backpropagation through time (tf.custom_gradient),
# trained with a custom tf.function step. Same mathematics as the stock layer: over 20 Adam steps
# the loss stays within 1.9e-6 of keras.layers.LSTM from the same weights, and the weights copy
# into a stock LSTM with set_weights (predictions identical).
#
# Measured on the shared 2-core machine (medians, same run, load average 2.5-4.6): stock Keras fit
# 1019-1257 seq/s, this prototype 1289-1420 seq/s (1.0-1.3x stock), PyTorch nn.LSTM 1 thread
# 1253-1492 seq/s; PyTorch at its default 2 threads stalls whenever another process holds a core,
# so ratios against it were not meaningful under that load. Not integrated: the gain is within
# the machine's noise, and it would need checkpoint/optimizer-state conversion between the fast
# and stock layers to keep resume bit-identical.
#
# Run: TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/experiments/fast_lstm.py
"""Self-contained best approach: Keras-LSTM-compatible layer with hoisted input projection
(kernel-row gather), python-unrolled recurrence, hand-written BPTT (tf.custom_gradient),
custom tf.function step.  Optional: PARTS=2 (batch split into independent chains),
SPLIT_THREADS=1 (intra=1/inter=2).
Run:  TF_CPP_MIN_LOG_LEVEL=3 python best_snippet.py
"""

import os

import tensorflow as tf

if os.environ.get("SPLIT_THREADS"):  # optional variant: intra=1/inter=2 (+ parts=2); not faster in our runs
    tf.config.threading.set_intra_op_parallelism_threads(1)  # must precede any TF op
    tf.config.threading.set_inter_op_parallelism_threads(2)
PARTS = int(os.environ.get("PARTS", "1"))
import keras  # noqa: E402


def _cell_fwd(xw, R, b):  # xw: (T, b, 4u) = x_t @ kernel for every step (no bias)
    h = c = tf.zeros([tf.shape(xw)[1], R.shape[0]], xw.dtype)
    S = {k: [] for k in "H C I F O G TC".split()}
    for x in tf.unstack(xw, num=xw.shape[0]):
        z = x + tf.matmul(h, R)  # same order as keras: (x@W + h@R) + b
        z = z + b
        zi, zf, zg, zo = tf.split(z, 4, axis=1)
        i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zg), tf.sigmoid(zo)
        c = f * c + i * g
        tc = tf.tanh(c)
        h = o * tc
        for k, v in zip("H C I F O G TC".split(), (h, c, i, f, o, g, tc)):
            S[k].append(v)
    return {k: tf.stack(v) for k, v in S.items()}


def _cell_bwd(dH, S, R):
    T, U = dH.shape[0], R.shape[0]
    H, C, I, F, O, G, TC = (S[k] for k in "H C I F O G TC".split())
    Cprev = tf.concat([tf.zeros_like(C[:1]), C[:-1]], axis=0)
    DTC = O * (1.0 - TC * TC)  # d h -> d c
    MD = tf.concat(
        [
            G * I * (1.0 - I),
            Cprev * F * (1.0 - F),  # d c -> d z_i, d z_f
            I * (1.0 - G * G),
            TC * O * (1.0 - O),
        ],
        2,
    )  # d c -> d z_g, d h -> d z_o
    dHs, DTCs, MDs, Fs = (tf.unstack(a, num=T) for a in (dH, DTC, MD, F))
    dzs, dh_n, dc_n = [None] * T, None, None
    for t in reversed(range(T)):
        dh = dHs[t] if dh_n is None else dHs[t] + dh_n
        dc = dh * DTCs[t] if dc_n is None else dh * DTCs[t] + dc_n
        dzs[t] = tf.concat([dc, dc, dc, dh], axis=1) * MDs[t]
        if t > 0:
            dc_n = dc * Fs[t]
            dh_n = tf.matmul(dzs[t], R, transpose_b=True)  # only matmul in the loop
    dZ = tf.stack(dzs)
    dR = tf.matmul(
        tf.reshape(H[:-1], [-1, U]), tf.reshape(dZ[1:], [-1, 4 * U]), transpose_a=True
    )  # ONE big matmul for dR
    return dZ, dR, tf.reduce_sum(dZ, [0, 1])


def make_lstm_seq(parts=2):
    @tf.custom_gradient
    def lstm_seq(xw, R, b):  # xw (T,B,4u) -> H (T,B,u); batch split into independent chains
        saved = [_cell_fwd(x, R, b) for x in tf.split(xw, parts, axis=1)]

        def grad(dH):
            outs = [_cell_bwd(d, s, R) for d, s in zip(tf.split(dH, parts, axis=1), saved)]
            return (
                tf.concat([o[0] for o in outs], 1),
                tf.add_n([o[1] for o in outs]),
                tf.add_n([o[2] for o in outs]),
            )

        return tf.concat([s["H"] for s in saved], axis=1), grad

    return lstm_seq


@tf.custom_gradient
def gather_rows(kernel, tokens_tm):  # one-hot @ kernel == kernel[tokens]; dense grad
    def grad(dy):
        return tf.math.unsorted_segment_sum(
            tf.reshape(dy, [-1, kernel.shape[1]]), tf.reshape(tokens_tm, [-1]), kernel.shape[0]
        ), None

    return tf.gather(kernel, tokens_tm), grad


class FastLSTM(keras.layers.Layer):
    """LSTM(units, return_sequences=True) on int tokens (one-hot implied), keras weights."""

    def __init__(self, units, vocab_size, parts=PARTS, **kw):
        super().__init__(**kw)
        self.units, self.vocab_size, self._seq = units, vocab_size, make_lstm_seq(parts)

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(
            shape=(self.vocab_size, 4 * u), name="kernel", initializer="glorot_uniform"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(u, 4 * u), name="recurrent_kernel", initializer="orthogonal"
        )
        self.bias = self.add_weight(
            shape=(4 * u,),
            name="bias",
            initializer=lambda s, dtype=None: tf.concat([tf.zeros([u]), tf.ones([u]), tf.zeros([2 * u])], 0),
        )

    def call(self, tokens):
        xw = gather_rows(tf.convert_to_tensor(self.kernel), tf.transpose(tf.cast(tokens, tf.int32)))
        H = self._seq(xw, tf.convert_to_tensor(self.recurrent_kernel), tf.convert_to_tensor(self.bias))
        return tf.transpose(H, [1, 0, 2])

    def compute_output_shape(self, s):
        return tuple(s[:2]) + (self.units,)


if __name__ == "__main__":
    import time

    import numpy as np

    B, T, V, U = 64, 64, 64, 128
    keras.utils.set_random_seed(0)
    inp = keras.Input((T,), batch_size=B, dtype="int32")
    model = keras.Model(inp, keras.layers.Dense(V, activation="softmax")(FastLSTM(U, V)(inp)))
    opt = keras.optimizers.Adam(1e-3)
    lossf = keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def train_step(batch):  # batch: int32 (B, T+1)
        with tf.GradientTape() as tape:
            loss = lossf(batch[:, 1:], model(batch[:, :-1], training=True))
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables))
        return loss

    data = tf.constant(np.random.default_rng(0).integers(0, V, (16, B, T + 1)), tf.int32)
    for k in range(5):
        train_step(data[k])
    ts = []
    for r in range(7):
        t0 = time.perf_counter()
        for k in range(20):
            loss = train_step(data[k % 16])
        float(loss)
        ts.append(20 * B / (time.perf_counter() - t0))
    print(f"seq/s median {np.median(ts):.0f}  (rounds: {[round(x) for x in ts]})")

    # copy into a stock keras LSTM for saving
    inp2 = keras.Input((T, V), batch_size=B)
    stock = keras.Model(
        inp2, keras.layers.Dense(V, activation="softmax")(keras.layers.LSTM(U, return_sequences=True)(inp2))
    )
    stock.set_weights(model.get_weights())  # kernel, recurrent_kernel, bias, dense W, dense b
    x = data[0][:, :-1]
    print("max |p_fast - p_stock| =", float(tf.reduce_max(tf.abs(model(x) - stock(tf.one_hot(x, V))))))
