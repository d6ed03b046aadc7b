"""`model.forget_bias`: the LSTM gate biases lstmcli sets after building (NumPy only).

Keras's `unit_forget_bias` gives every forget gate a bias of 1.0: f ≈ σ(1) ≈ 0.73 at the start,
so a memory decays as 0.73^t and a gradient across 100 steps is ~1e-14. Chrono initialisation
(Tallec & Ollivier, "Can recurrent neural networks warp time?", ICLR 2018) draws each unit's
forget bias b_f = log u, u ~ U(1, L - 1), and sets its input bias b_i = -b_f: unit j starts with
f ≈ 1 - 1/u_j, a memory of ~u_j steps, so the units span every lag from 1 to L, and the input
gate of a long-memory unit starts nearly shut, so distractors do not overwrite what it holds.

The values are written into the stock bias variable after building: the saved model.keras holds
plain numbers and Keras's usual config (no custom initializer), and the NumPy engine reads them
like any trained weights.
"""

from __future__ import annotations

import numpy as np

from lstmcli.config import Chrono, Config


def max_lag(cfg: Config) -> int | None:
    """The L of chrono initialisation (None for a number)."""
    fb = cfg.model.forget_bias
    if isinstance(fb, Chrono):
        return fb.chrono
    if fb == "chrono":
        return cfg.sequence_length
    return None


def lstm_bias(cfg: Config, units: int, layer: int) -> np.ndarray | None:
    """The bias (4 × units,) of LSTM layer `layer` in Keras's gate order i, f, c, o, or None when
    Keras's own initialisation (forget bias 1.0) stands. Chrono draws are seeded by (seed, layer)."""
    fb = cfg.model.forget_bias
    if fb == 1.0:
        return None
    bias = np.zeros(4 * units, np.float32)
    lag = max_lag(cfg)
    if lag is None:
        bias[units : 2 * units] = float(fb)  # type: ignore[arg-type]
        return bias
    rng = np.random.default_rng([cfg.seed, layer])
    b_f = np.log(rng.uniform(1.0, max(lag - 1.0, 1.0), units))
    bias[units : 2 * units] = b_f
    bias[:units] = -b_f
    return bias
