"""`train.kernel: auto` and `train.jit_compile: auto`: which training path a run takes, and why.

One function, `choose(cfg, device, planned_steps)`, decides from the config, the device kind and
the steps the run plans (epochs × steps per epoch): the kernel (lstmcli's fast LSTM kernel or
the stock Keras layer), whether XLA compiles the step, and how the fast kernel's recurrence is
laid out under XLA (fully unrolled, a tf.while_loop, or K steps per loop iteration). Explicit
settings always win; `train.distribute` never gets XLA (it compiles one device's step).

The rule is a cost model: the run's estimated seconds for each candidate path = compile time +
planned steps × the step's seconds, the smallest wins. The step's seconds without XLA come from
the step's FLOPs and a fixed per-step cost; each path's speed relative to that and its compile
time come from the measurements in benchmarks/README.md ("Choosing the path", measured with
`benchmarks/bench_auto.py` and `bench_kernel.py`), at the nearest measured shape. Plain Python:
no TensorFlow here, so the choice is cheap to test and to explain.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstmcli.config import Config

# ---- measured constants: see benchmarks/README.md, "Choosing the path (issue 20)" -----------
# Fast kernel step without XLA ≈ STEP_OVERHEAD_S + FLOPs / FAST_FLOPS (fit through the quiet
# 2026-11-27 suite: standard 239k tok/s, large 22.4k tok/s with 2.64 and 59.8 GFLOP a step).
FAST_FLOPS = 164e9
STEP_OVERHEAD_S = 0.0010
# Per measured workload (train FLOPs per step, batch 64, vocabulary 64): each path's step time
# as a multiple of the fast kernel's without XLA ("xla:K": XLA with K steps a loop iteration,
# 0 fully unrolled, 1 looped). From the quiet suite of 2026-12-01 19:00 (`python
# benchmarks/run.py --only pytorch --only endtoend`, noise <= 0.02 cores; benchmarks/README.md,
# "The quiet re-measurement"): steady tokens/s fast / stock and, from the minute-long end-to-end
# runs less their compile, XLA's path there (K=8 on small and standard, looped on large). The
# layouts that run did not take are placed from the side-by-side loaded rounds ("Choosing the
# path": on small unrolled 0.61x and looped 0.87x K=8's speed; on standard K=8 1.07x unrolled
# and 1.09x looped; on large K=8 0.9x looped, unrolled 0.91x looped from issue 20's table).
# In that quiet run XLA did not pay on any workload: the fast kernel without XLA led on small
# (1.02x PyTorch steady) and large (1.01x), the stock layer on standard.
REFERENCE: dict[str, dict[str, Any]] = {
    # U=32 T=16: fast 375k, stock 299k, XLA K=8 ~347k tokens/s (steady)
    "small": {
        "flops": 90.3e6,
        "stock": 375 / 299,
        "xla:8": 375 / 347,
        "xla:0": 375 / 212,
        "xla:1": 375 / 302,
    },
    # U=128 T=64: fast 103k, stock 108k-127k (117k), XLA K=8 ~106k
    "standard": {
        "flops": 2.64e9,
        "stock": 103 / 117,
        "xla:8": 103 / 106,
        "xla:0": 103 / 99,
        "xla:1": 103 / 97,
    },
    # U=512 T=128: fast 18.2k, stock 10.9k, XLA looped ~15.5k
    "large": {
        "flops": 59.8e9,
        "stock": 18.2 / 10.9,
        "xla:1": 18.2 / 15.5,
        "xla:8": 18.2 / (15.5 * 0.9),
        "xla:0": 18.2 / (15.5 * 0.91),
    },
}
# XLA compile seconds of the whole step (forward + backward) per recurrent layer: unrolled grows
# with T (quiet: small T=16 ~4 s, standard T=64 20.5 s, large T=128 29 s), a loop body with its K
# steps (looped ~2 s; under load K=8 took 1.4x the looped compile on standard).
COMPILE_FIXED_S = 1.5
COMPILE_PER_UNROLLED_STEP_S = 0.22
# The fast kernel without XLA is unrolled in the graph: tracing it costs about this per timestep
# and layer before the first step (bench_auto.py, load ~2: first epoch 2.11 s fast vs 0.97 s
# stock on small T=17, 5.72 s vs 1.75 s on standard T=65: 0.067 and 0.061 s a timestep).
FAST_TRACE_SECONDS_PER_STEP = 0.065
# The steps per loop iteration XLA gets when partially unrolled.
PARTIAL_STEPS = 8
# train.steps_per_call: auto: steps enough for a call of about CALL_SECONDS, at most
# MAX_STEPS_PER_CALL (a signal is heard after a call), and 1 when that is under
# MIN_STEPS_PER_CALL. Measured in one process (bench_auto.py --calls 1,2,4,16, load 4.8-5.0,
# steps/s over one step a call in the same rounds): 16 a call 2.38x on hello, 1.57x on small,
# 1.14x on standard; 4 a call 1.50x, 1.23x, 1.38x; 2 a call 1.29x, 1.12x, 1.02x (0.92x on small
# in an earlier run).
CALL_SECONDS = 0.25
MIN_STEPS_PER_CALL = 4
MAX_STEPS_PER_CALL = 64

# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """The path a run takes: `kernel` fast | stock, `jit_compile`, `unroll` (the fast kernel's
    recurrence: true = fully unrolled, false = a loop, K = K steps per loop iteration) and why."""

    kernel: str
    jit_compile: bool
    unroll: bool | int
    reason: str
    steps_per_call: int = 1  # training steps one call into the compiled step runs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def step_flops(cfg: Config) -> float:
    """Training FLOPs of one step (forward + backward ≈ 3 × forward; see benchsuite.workloads)."""
    vocab = len(cfg.vocab) if isinstance(cfg.vocab, list) else 64
    units, t, b = cfg.model.units, cfg.sequence_length, cfg.train.batch_size
    lstm_first = 2 * (vocab + units) * 4 * units + 13 * units
    lstm_above = 2 * (2 * units) * 4 * units + 13 * units
    forward = lstm_first + (cfg.model.num_layers - 1) * lstm_above + 2 * units * vocab + 5 * vocab
    return 3.0 * forward * t * b


def nearest(flops: float) -> str:
    """The measured workload nearest in per-step FLOPs (on a log scale)."""
    return min(REFERENCE, key=lambda name: abs(math.log(flops / REFERENCE[name]["flops"])))


def compile_seconds(cfg: Config, per: int) -> float:
    """XLA's compile time of the step: `per` steps in the compiled body (0: all T); with a
    validation split the evaluation step (a forward pass, taken as half) compiles too."""
    body = cfg.sequence_length if per == 0 else per
    train = cfg.model.num_layers * (COMPILE_FIXED_S + COMPILE_PER_UNROLLED_STEP_S * body)
    return train * (1.5 if cfg.train.validation_split > 0 else 1.0)


@dataclass(frozen=True)
class _Path:
    step: float  # estimated seconds of one step
    compile: float  # estimated seconds of XLA's compile
    kernel: str
    jit: bool
    unroll: bool | int
    how: str

    def seconds(self, planned: int) -> float:
        return self.compile + planned * self.step


def trace_seconds(cfg: Config) -> float:
    """Tracing the fast kernel unrolled without XLA (the stock layer's loop traces in no time
    to speak of); with a validation split the evaluation step traces too (a forward pass: half)."""
    seconds = FAST_TRACE_SECONDS_PER_STEP * cfg.sequence_length * cfg.model.num_layers
    return seconds * (1.5 if cfg.train.validation_split > 0 else 1.0)


def choose(cfg: Config, device: str, planned_steps: int) -> Choice:
    """The path for this config on `device` ("cpu" | "gpu") for a run of `planned_steps` steps."""
    train = cfg.train
    explicit_jit = train.jit_compile if train.jit_compile != "auto" else None
    if train.distribute != "none":
        explicit_jit = False  # the validator refuses true; auto is false
    flops = step_flops(cfg)
    if device == "gpu":
        kernel = train.kernel if train.kernel != "auto" else "stock"
        why = "a GPU: the stock layer runs cuDNN" if train.kernel == "auto" else f"train.kernel: {kernel}"
        jit = bool(explicit_jit)
        how = "XLA (train.jit_compile)" if jit else "no XLA (not measured on GPUs)"
        per_call = steps_per_call(cfg, STEP_OVERHEAD_S + flops / FAST_FLOPS)
        return Choice(kernel, jit, True, f"{why}; {how}", per_call)
    paths = _paths(cfg, flops, explicit_jit)
    best = min(paths, key=lambda p: p.seconds(planned_steps))
    others = "; ".join(f"{p.kernel} {p.how} {p.seconds(planned_steps):.3g} s" for p in paths if p is not best)
    reason = (
        f"{best.kernel} {best.how}: est. {best.seconds(planned_steps):.3g} s for {planned_steps} steps of "
        f"{flops / 1e9:.3g} GFLOP (nearest measured: {nearest(flops)})" + (f"; vs {others}" if others else "")
    )
    if train.distribute != "none" and train.jit_compile == "auto":
        reason += f"; no XLA with train.distribute: {train.distribute}"
    return Choice(best.kernel, best.jit, best.unroll, reason, steps_per_call(cfg, best.step))


def steps_per_call(cfg: Config, step_seconds: float) -> int:
    """`train.steps_per_call`: as set, or auto: 1 under train.distribute (every step's stop
    request is all-reduced across workers), else about CALL_SECONDS of steps (1 when that is
    fewer than MIN_STEPS_PER_CALL: two a call measured no faster than one)."""
    if cfg.train.steps_per_call != "auto":
        return cfg.train.steps_per_call
    if cfg.train.distribute != "none":
        return 1
    n = min(MAX_STEPS_PER_CALL, int(CALL_SECONDS / max(step_seconds, 1e-6)))
    return n if n >= MIN_STEPS_PER_CALL else 1


def _paths(cfg: Config, flops: float, jit: bool | None) -> list[_Path]:
    """Every path the settings allow (an explicit kernel or jit_compile narrows them)."""
    ref = REFERENCE[nearest(flops)]
    step = STEP_OVERHEAD_S + flops / FAST_FLOPS
    asked = cfg.train.kernel
    kernel = asked if asked != "auto" else ("fast" if cfg.model.cell == "lstm" else "stock")
    kernels = ["fast", "stock"] if kernel == "fast" and asked == "auto" else [kernel]
    paths: list[_Path] = []
    if jit is not True:
        for k in kernels:
            factor, trace = (ref["stock"], 0.0) if k == "stock" else (1.0, trace_seconds(cfg))
            how = "without XLA" + (f" (trace ~{trace:.1f} s)" if trace else "")
            paths.append(_Path(step * factor, trace, k, False, True, how))
    if jit is False or (jit is None and kernel != "fast"):
        return paths  # XLA with the stock layer was not measured: only when asked for
    if kernel == "stock":
        return [_Path(step * ref["stock"], compile_seconds(cfg, 0), "stock", True, True, "with XLA")]
    layouts: list[tuple[int, bool | int, str]] = [(0, True, "unrolled"), (1, False, "looped")]
    if cfg.sequence_length > 2 * PARTIAL_STEPS:  # else a loop of one or two iterations: no gain
        layouts.append((PARTIAL_STEPS, PARTIAL_STEPS, f"{PARTIAL_STEPS} steps a loop iteration"))
    for per, unroll, label in layouts:
        compile_s = compile_seconds(cfg, per)
        how = f"with XLA {label} (compile ~{compile_s:.0f} s)"
        paths.append(_Path(step * ref[f"xla:{per}"], compile_s, "fast", True, unroll, how))
    return paths
