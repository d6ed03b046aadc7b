"""The LSTM, GRU and SimpleRNN cells lstmcli trains, in NumPy: every gate and state per step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

# The dataclasses below hold arrays, so the generated `__eq__` would compare arrays element-wise
# and raise "truth value of an array is ambiguous"; `eq=False` keeps identity comparison instead.


@dataclass(eq=False)
class LSTMWeights:
    """LSTM weights: kernel (d, 4u), recurrent_kernel (u, 4u), bias (4u,); gates i, f, c, o."""

    kernel: F32
    recurrent_kernel: F32
    bias: F32

    @property
    def units(self) -> int:
        return int(self.recurrent_kernel.shape[0])


@dataclass(eq=False)
class LSTMTrace:
    """Every LSTM gate and state, each (batch, time, units); g is the candidate, c the cell."""

    i: F32
    f: F32
    g: F32
    o: F32
    c: F32
    h: F32


@dataclass(eq=False)
class GRUWeights:
    """Keras GRU (reset_after) weights: kernel (d, 3u), recurrent_kernel (u, 3u), bias (2, 3u)."""

    kernel: F32
    recurrent_kernel: F32
    bias: F32

    @property
    def units(self) -> int:
        return int(self.recurrent_kernel.shape[0])


@dataclass(eq=False)
class GRUTrace:
    """Every GRU gate and state, each (batch, time, units): z update, r reset, hh candidate."""

    z: F32
    r: F32
    hh: F32
    h: F32


@dataclass(eq=False)
class SimpleRNNWeights:
    """Keras SimpleRNN (tanh) weights: kernel (d, u), recurrent_kernel (u, u), bias (u,)."""

    kernel: F32
    recurrent_kernel: F32
    bias: F32

    @property
    def units(self) -> int:
        return int(self.recurrent_kernel.shape[0])


@dataclass(eq=False)
class SimpleRNNTrace:
    """The SimpleRNN output h (batch, time, units); it has no gates, but `forward` wants a `.h`."""

    h: F32


class DenseLike(Protocol):
    """Anything carrying a Dense kernel and bias (`kerasfile.DenseSpec`)."""

    @property
    def kernel(self) -> F32: ...

    @property
    def bias(self) -> F32: ...


RecurrentWeights = LSTMWeights | GRUWeights | SimpleRNNWeights
Trace = LSTMTrace | GRUTrace | SimpleRNNTrace


def sigmoid(x: F32) -> F32:
    """Logistic sigmoid that never overflows: exp is only taken of -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32, copy=False)


def softmax(z: F32) -> F32:
    """Softmax over the last axis, shifted by the max so exp cannot overflow."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e: F32 = np.exp(shifted)
    out: F32 = (e / np.sum(e, axis=-1, keepdims=True)).astype(np.float32, copy=False)
    return out


def _f32(a: npt.ArrayLike) -> F32:
    return np.asarray(a, dtype=np.float32)


def _check_inputs(x: F32, kernel: F32, gates: int, recurrent_kernel: F32, what: str) -> int:
    """Check shapes up front so a mismatch names the array instead of failing inside a matmul."""
    if x.ndim != 3:
        raise ValueError(f"{what}: expected x of shape (batch, time, input_dim). Received: {x.shape}")
    units = recurrent_kernel.shape[0]
    if kernel.shape != (x.shape[2], gates * units):
        raise ValueError(
            f"{what}: expected kernel of shape {(x.shape[2], gates * units)} for input_dim "
            f"{x.shape[2]} and {units} units. Received: {kernel.shape}"
        )
    if recurrent_kernel.shape != (units, gates * units):
        raise ValueError(
            f"{what}: expected recurrent_kernel of shape {(units, gates * units)}. "
            f"Received: {recurrent_kernel.shape}"
        )
    return int(units)


def _initial(state: npt.ArrayLike | None, batch: int, units: int, name: str) -> F32:
    if state is None:
        return np.zeros((batch, units), dtype=np.float32)
    s = _f32(state)
    if s.shape != (batch, units):
        raise ValueError(f"expected {name} of shape {(batch, units)}. Received: {s.shape}")
    return s


def _keep(mask: npt.ArrayLike | None, batch: int, steps: int) -> npt.NDArray[np.bool_] | None:
    """The (batch, time, 1) mask of Keras's Masking layer: False at a padded step, where every
    state keeps its value from the step before (Keras's RNN masking, `backend.rnn`)."""
    if mask is None:
        return None
    m = np.asarray(mask, dtype=bool)
    if m.shape != (batch, steps):
        raise ValueError(f"expected mask of shape {(batch, steps)}. Received: {m.shape}")
    return m[:, :, None]


def lstm_trace(
    x: npt.ArrayLike,
    w: LSTMWeights,
    h0: npt.ArrayLike | None = None,
    c0: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
) -> LSTMTrace:
    """Run an LSTM over x (batch, time, input_dim) and record every gate and state at every step.

    i, f, o = σ(x W + h U + b) per gate, g = tanh(…), c = f ⊙ c₋₁ + i ⊙ g, h = o ⊙ tanh(c),
    with Keras's gate order i, f, c(=g), o along the last axis of the weights. Where `mask`
    (batch, time) is False, h and c keep their previous values (the gates are still recorded).
    """
    xs = _f32(x)
    kernel, rec, bias = _f32(w.kernel), _f32(w.recurrent_kernel), _f32(w.bias)
    u = _check_inputs(xs, kernel, 4, rec, "lstm_trace")
    if bias.shape != (4 * u,):
        raise ValueError(f"lstm_trace: expected bias of shape {(4 * u,)}. Received: {bias.shape}")
    batch, steps, _ = xs.shape
    keep = _keep(mask, batch, steps)
    h = _initial(h0, batch, u, "h0")
    c = _initial(c0, batch, u, "c0")
    # The input projection does not depend on the state, so do it for all steps in one matmul.
    xw = xs @ kernel + bias
    out = {k: np.empty((batch, steps, u), dtype=np.float32) for k in "ifgoch"}
    for t in range(steps):
        z = xw[:, t] + h @ rec
        i = sigmoid(z[:, :u])
        f = sigmoid(z[:, u : 2 * u])
        g = np.tanh(z[:, 2 * u : 3 * u])
        o = sigmoid(z[:, 3 * u :])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        c = c_new if keep is None else np.where(keep[:, t], c_new, c)
        h = h_new if keep is None else np.where(keep[:, t], h_new, h)
        for k, v in (("i", i), ("f", f), ("g", g), ("o", o), ("c", c), ("h", h)):
            out[k][:, t] = v
    return LSTMTrace(i=out["i"], f=out["f"], g=out["g"], o=out["o"], c=out["c"], h=out["h"])


def gru_trace(
    x: npt.ArrayLike, w: GRUWeights, h0: npt.ArrayLike | None = None, mask: npt.ArrayLike | None = None
) -> GRUTrace:
    """Run a Keras 3 GRU (reset_after=True) over x (batch, time, input_dim), recording every gate.

    With input bias b₀ and recurrent bias b₁ (the two rows of `bias`) and gate order z, r, h:
    z = σ(x W_z + b₀_z + h U_z + b₁_z), r likewise, hh = tanh(x W_h + b₀_h + r ⊙ (h U_h + b₁_h)),
    h = z ⊙ h₋₁ + (1 - z) ⊙ hh (keras/src/layers/rnn/gru.py, GRUCell.call).
    """
    xs = _f32(x)
    kernel, rec, bias = _f32(w.kernel), _f32(w.recurrent_kernel), _f32(w.bias)
    u = _check_inputs(xs, kernel, 3, rec, "gru_trace")
    if bias.shape != (2, 3 * u):
        raise ValueError(f"gru_trace: expected bias of shape {(2, 3 * u)}. Received: {bias.shape}")
    batch, steps, _ = xs.shape
    keep = _keep(mask, batch, steps)
    h = _initial(h0, batch, u, "h0")
    xw = xs @ kernel + bias[0]
    out = {k: np.empty((batch, steps, u), dtype=np.float32) for k in ("z", "r", "hh", "h")}
    for t in range(steps):
        inner = h @ rec + bias[1]
        z = sigmoid(xw[:, t, :u] + inner[:, :u])
        r = sigmoid(xw[:, t, u : 2 * u] + inner[:, u : 2 * u])
        # reset_after: the reset gate scales the recurrent projection, not h itself.
        hh = np.tanh(xw[:, t, 2 * u :] + r * inner[:, 2 * u :])
        h_new = z * h + (1.0 - z) * hh
        h = h_new if keep is None else np.where(keep[:, t], h_new, h)
        for k, v in (("z", z), ("r", r), ("hh", hh), ("h", h)):
            out[k][:, t] = v
    return GRUTrace(z=out["z"], r=out["r"], hh=out["hh"], h=out["h"])


def simple_rnn_trace(
    x: npt.ArrayLike,
    w: SimpleRNNWeights,
    h0: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
) -> F32:
    """Run a Keras SimpleRNN (tanh) over x (batch, time, input_dim); returns h (batch, time, units).

    h = tanh(x W + b + h₋₁ U).
    """
    xs = _f32(x)
    kernel, rec, bias = _f32(w.kernel), _f32(w.recurrent_kernel), _f32(w.bias)
    u = _check_inputs(xs, kernel, 1, rec, "simple_rnn_trace")
    if bias.shape != (u,):
        raise ValueError(f"simple_rnn_trace: expected bias of shape {(u,)}. Received: {bias.shape}")
    batch, steps, _ = xs.shape
    keep = _keep(mask, batch, steps)
    h = _initial(h0, batch, u, "h0")
    xw = xs @ kernel + bias
    hs = np.empty((batch, steps, u), dtype=np.float32)
    for t in range(steps):
        h_new = np.tanh(xw[:, t] + h @ rec)
        h = h_new if keep is None else np.where(keep[:, t], h_new, h)
        hs[:, t] = h
    return hs


# ---------------------------------------------------------------- the cell registry


@dataclass(frozen=True)
class CellType:
    """Everything lstmcli needs to know about one recurrent cell, in one place: adding a cell is
    its equations above plus one `register(CellType(...))` below (ARCHITECTURE.md)."""

    name: str  # the config value of model.cell
    keras_class: str  # the stock Keras layer (keras.layers.<keras_class>), also in model.keras
    h5_name: str  # Keras's snake-cased class name: the layer's group in model.weights.h5
    blocks: int  # gate blocks along the last axis of kernel and recurrent_kernel
    bias_rows: int  # 1, or 2 (GRU's reset_after keeps an input and a recurrent bias)
    weights: type[Any]  # the weights dataclass (kernel, recurrent_kernel, bias)
    run: Callable[..., Any]  # (x, weights, mask=None) -> a trace with .h and every gate
    steps: tuple[tuple[str, str], ...]  # (shown name, trace attribute) per timestep, for inspect
    has_cell_state: bool  # LSTM's c; other cells report c as null
    equations: str  # the legend inspect --gates prints
    # The Keras layer settings these equations assume: key -> (required value, Keras's default).
    # The .keras reader refuses a file whose layer says otherwise.
    keras_config: dict[str, tuple[Any, Any]]

    def bias_shape(self, units: int) -> tuple[int, ...]:
        n = self.blocks * units
        return (n,) if self.bias_rows == 1 else (self.bias_rows, n)


CELLS: dict[str, CellType] = {}


def register(cell: CellType) -> None:
    """Make a cell known to the config schema, the model builder, the .keras reader and inspect."""
    CELLS[cell.name] = cell


def _simple_rnn_run(
    x: npt.ArrayLike, w: SimpleRNNWeights, mask: npt.ArrayLike | None = None
) -> SimpleRNNTrace:
    return SimpleRNNTrace(h=simple_rnn_trace(x, w, mask=mask))


register(
    CellType(
        name="lstm",
        keras_class="LSTM",
        h5_name="lstm",
        blocks=4,
        bias_rows=1,
        weights=LSTMWeights,
        run=lambda x, w, mask=None: lstm_trace(x, w, mask=mask),
        steps=(("i", "i"), ("f", "f"), ("g", "g"), ("o", "o"), ("c", "c"), ("h", "h")),
        has_cell_state=True,
        keras_config={"activation": ("tanh", "tanh"), "recurrent_activation": ("sigmoid", "sigmoid")},
        equations="f_t = σ(W_xf x_t + W_hf h_t-1 + b_f), i_t = σ(…), g_t = tanh(…), o_t = σ(…); "
        "c_t = f_t ⊙ c_t-1 + i_t ⊙ g_t; h_t = o_t ⊙ tanh(c_t)",
    )
)
register(
    CellType(
        name="gru",
        keras_class="GRU",
        h5_name="gru",
        blocks=3,
        bias_rows=2,
        weights=GRUWeights,
        run=lambda x, w, mask=None: gru_trace(x, w, mask=mask),
        steps=(("z", "z"), ("r", "r"), ("g", "hh"), ("h", "h")),
        has_cell_state=False,
        keras_config={
            "activation": ("tanh", "tanh"),
            "recurrent_activation": ("sigmoid", "sigmoid"),
            "reset_after": (True, True),
        },
        equations="z_t = σ(…), r_t = σ(…), g_t = tanh(W x_t + r_t ⊙ (U h_t-1 + b)); "
        "h_t = z_t ⊙ h_t-1 + (1 - z_t) ⊙ g_t",
    )
)
register(
    CellType(
        name="simple_rnn",
        keras_class="SimpleRNN",
        h5_name="simple_rnn",
        blocks=1,
        bias_rows=1,
        weights=SimpleRNNWeights,
        run=_simple_rnn_run,
        steps=(("h", "h"),),
        has_cell_state=False,
        keras_config={"activation": ("tanh", "tanh")},
        equations="h_t = tanh(W x_t + U h_t-1 + b)",
    )
)


def cell_of(weights: Any) -> CellType:
    """The registered cell whose weights dataclass `weights` is."""
    for cell in CELLS.values():
        if isinstance(weights, cell.weights):
            return cell
    known = ", ".join(c.weights.__name__ for c in CELLS.values())
    raise TypeError(
        f"expected the weights of a registered cell ({known}). Received: {type(weights).__name__}"
    )


def dense_softmax(h: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike) -> F32:
    """Probabilities softmax(h W + b) over the last axis, for h of any leading shape."""
    return softmax(_f32(h) @ _f32(kernel) + _f32(bias))


def forward(
    layers: Sequence[RecurrentWeights | DenseLike], x: npt.ArrayLike, mask: npt.ArrayLike | None = None
) -> tuple[list[Trace], F32]:
    """Run a stack of recurrent layers and a final softmax Dense over x (batch, time, vocab).

    `layers` is the recurrent weights in order followed by the Dense weights (see
    `kerasfile.ModelSpec.stack()`). Dropout is the identity at inference, so it has no entry.
    Returns one trace per recurrent layer and the probabilities (batch, time, vocab). With a
    `mask` (batch, time; a classifier's Masking layer), padded steps carry every state over, so
    the last step's probabilities are those after each sequence's last real token.
    """
    if len(layers) < 2:
        raise ValueError(
            "forward: expected at least one recurrent layer followed by a Dense layer. "
            f"Received {len(layers)} layer(s)"
        )
    *recurrent, dense = layers
    traces: list[Trace] = []
    seq = _f32(x)
    for n, w in enumerate(recurrent):
        try:
            cell = cell_of(w)
        except TypeError as e:
            raise TypeError(f"forward: layer {n}: {e}") from None
        trace: Trace = cell.run(seq, w, mask=mask)
        traces.append(trace)
        seq = trace.h
    if isinstance(dense, LSTMWeights | GRUWeights | SimpleRNNWeights):
        raise TypeError("forward: the last layer must be the Dense weights, not a recurrent layer")
    return traces, dense_softmax(seq, dense.kernel, dense.bias)
