"""Train-step benchmark of the fast LSTM kernel: fast vs the stock Keras layer vs PyTorch nn.LSTM.

    TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/bench_kernel.py             # small, standard, large
    python benchmarks/bench_kernel.py --workloads standard --rounds 9     # one workload, more pairs
    python benchmarks/bench_kernel.py --variant fast:chains=1,jit=0       # an extra fast variant
    python benchmarks/bench_kernel.py --variant stock:bf16=1              # the stock layer in bfloat16
    python benchmarks/bench_kernel.py --variant fast:jit=1,unroll=8       # XLA, 8 steps a loop iteration

Every variant is the same training step on the same batches (one-hot input → LSTM → Dense softmax,
cross-entropy over every step, Adam): `fast` is lstmcli.model.kernels.make_forward in a custom
tf.function step, `stock` is keras.layers.LSTM in the same step, `torch` is nn.LSTM + Linear +
CrossEntropyLoss + Adam with torch.set_num_threads(2). `bf16=1` (issue 20 item 4): `fast:bf16=1` and
`stock:bf16=1` set lstmcli's `train.precision: bfloat16` on the model (`backend.set_precision`: the
LSTM under Keras's mixed_bfloat16 policy), `torch:bf16=1` runs the forward pass and the loss under
`torch.autocast("cpu", dtype=torch.bfloat16)` (PyTorch's mixed precision: float32 parameters,
bfloat16 matmuls; gradients follow). They run interleaved in this one process,
one block of steps each per round, the order rotating every round, with a pause between blocks so
one framework's spinning threads do not eat into the next; a workload's figure is the median
over the rounds, and a ratio is the median of the per-round ratios. The float32 matmul peak is
sampled in the same run (benchsuite/peak.py) and the load average is recorded beside each round.
Prints a table; writes benchmarks/results/kernel.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lstmcli from this checkout

from benchsuite.common import QUIET_CORES, RESULTS, log, machine, machine_busy_seconds, table  # noqa: E402
from benchsuite.peak import MatmulPeak  # noqa: E402
from benchsuite.workloads import Workload, train_flops_per_token  # noqa: E402

WORKLOADS = {
    "small": Workload("small", units=32, timesteps=16, steps=0, epochs=0),
    "standard": Workload("standard", units=128, timesteps=64, steps=0, epochs=0),
    "large": Workload("large", units=512, timesteps=128, steps=0, epochs=0),
}
# Steps per timed block: about 0.3-1 s of work each on this machine.
BLOCK_STEPS = {"small": 60, "standard": 12, "large": 2}
PAUSE_S = 0.2  # between blocks: let the previous framework's thread pool go to sleep
BATCHES = 8  # distinct batches cycled through
# `fast`: make_forward's defaults in a plain tf.function step, as lstmcli's training loop runs it;
# `fast:jit=1`: the same with the whole step compiled by XLA.
DEFAULT_FAST = ("fast", "fast:jit=1", "fast:bf16=1")
DEFAULT_TORCH = ("torch", "torch:bf16=1")
# The references every variant is divided by, and their names in the JSON (`ratio_over_…`).
REFERENCES = {"torch": "torch", "torch:bf16=1": "torch_bf16", "stock": "stock"}

Step = Callable[[int], float]
TORCH_THREADS = [2]  # --threads 1 makes it 1


@dataclass(frozen=True)
class Variant:
    """A named train step: 'torch', 'stock' or 'fast[:OPTION=N,...]' with make_forward's options
    (chains, unroll: 1 unrolled, 0 looped, K ≥ 2 K steps a loop iteration, xla), jit (jit_compile
    the whole step) and bf16 (bfloat16 compute; also for 'stock:bf16=1' and 'torch:bf16=1')."""

    spec: str

    @property
    def kind(self) -> str:
        return self.spec.split(":", 1)[0]

    def options(self) -> dict[str, int]:
        if ":" not in self.spec:
            return {}
        return {k: int(v) for k, v in (kv.split("=") for kv in self.spec.split(":", 1)[1].split(","))}


def keras_steps(w: Workload, variants: list[Variant], data: np.ndarray) -> dict[str, Step]:
    from lstmcli.model.backend import keras, set_precision

    k = keras()
    import tensorflow as tf

    from lstmcli.model.kernels import make_forward

    tf.config.experimental.enable_op_determinism()  # as lstmcli trains
    batches = tf.constant(data)
    steps: dict[str, Step] = {}
    for v in variants:
        if v.kind == "torch":
            continue
        k.utils.set_random_seed(0)
        model = k.Sequential(
            [
                k.Input((None, w.vocab)),
                k.layers.LSTM(w.units, return_sequences=True),
                k.layers.Dense(w.vocab, activation="softmax"),
            ]
        )
        opts = v.options()
        if opts.get("bf16"):
            set_precision(model, "bfloat16")
        if v.kind == "stock":
            forward: Any = lambda ids, training, m=model: m(tf.one_hot(ids, w.vocab), training=training)  # noqa: E731
        else:
            kernel_options: dict[str, Any] = {
                key: val for key, val in opts.items() if key not in ("jit", "bf16")
            }
            forward = make_forward(model, **kernel_options)
        steps[v.spec] = tf_step(model, forward, batches, bool(opts.get("jit", 0)))
    return steps


def tf_step(model: Any, forward: Any, batches: Any, jit: bool) -> Step:
    import keras
    import tensorflow as tf

    opt = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function(jit_compile=jit)
    def step(ids: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(ids[:, 1:], forward(ids[:, :-1], training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return lambda n: float(step(batches[n % BATCHES]))


def torch_step(w: Workload, data: np.ndarray, bf16: bool = False) -> Step:
    import contextlib

    import torch
    from torch import nn

    torch.set_num_threads(TORCH_THREADS[0])
    torch.manual_seed(0)
    lstm, out = nn.LSTM(w.vocab, w.units, batch_first=True), nn.Linear(w.units, w.vocab)
    params = [*lstm.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    batches = torch.tensor(data.astype(np.int64))

    def step(n: int) -> float:
        seq = batches[n % BATCHES]
        mixed = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with mixed:
            x = nn.functional.one_hot(seq[:, :-1], w.vocab).float()
            logits = out(lstm(x)[0])
            loss = loss_fn(logits.reshape(-1, w.vocab), seq[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def measure(w: Workload, variants: list[Variant], rounds: int, peak: MatmulPeak) -> dict[str, Any]:
    data = np.random.default_rng(0).integers(0, w.vocab, (BATCHES, w.batch, w.timesteps + 1)).astype(np.int32)
    steps = keras_steps(w, variants, data)
    for v in variants:
        if v.kind == "torch":
            steps[v.spec] = torch_step(w, data, bool(v.options().get("bf16", 0)))
    order = [v.spec for v in variants]
    warmup: dict[str, float] = {}
    for name in order:  # tracing, XLA compilation, thread pools
        t0 = time.perf_counter()
        for n in range(3):
            steps[name](n)
        warmup[name] = round(time.perf_counter() - t0, 2)
    block = BLOCK_STEPS[w.name]
    samples: dict[str, list[float]] = {name: [] for name in order}
    noise: dict[str, list[float]] = {name: [] for name in order}
    loads: list[float] = []
    for r in range(rounds):
        rotated = order[r % len(order) :] + order[: r % len(order)]
        for name in rotated:
            time.sleep(PAUSE_S)
            busy0, own0, t0 = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
            for n in range(block):
                steps[name](n)
            seconds = time.perf_counter() - t0
            others = (machine_busy_seconds() - busy0) - (own_cpu_seconds() - own0)
            samples[name].append(block * w.batch * w.timesteps / seconds)
            noise[name].append(round(max(0.0, others) / seconds, 2))
        loads.append(round(os.getloadavg()[0], 2))
        log(
            f"[{w.name}] round {r + 1}/{rounds} (load {loads[-1]}): "
            + ", ".join(f"{n} {samples[n][-1]:,.0f} ({noise[n][-1]:.2f})" for n in order)
        )
    peak.measure(tries=3)
    return summarise(w, samples, noise, loads, warmup, peak)


def set_threads(spec: str) -> None:
    """Must run before TensorFlow runs any op."""
    from lstmcli.model.backend import keras

    keras()
    import tensorflow as tf

    intra, _, inter = spec.partition(",")
    tf.config.threading.set_intra_op_parallelism_threads(int(intra))
    tf.config.threading.set_inter_op_parallelism_threads(int(inter or intra))
    TORCH_THREADS[0] = int(intra)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summarise(
    w: Workload,
    samples: dict[str, list[float]],
    noise: dict[str, list[float]],
    loads: list[float],
    warmup: dict[str, float],
    peak: MatmulPeak,
) -> dict[str, Any]:
    flops = train_flops_per_token(w)
    out: dict[str, Any] = {
        "workload": w.name,
        "shape": w.shape,
        "train_flops_per_token": flops,
        "variants": {},
    }
    for name, tps in samples.items():
        med = statistics.median(tps)
        entry: dict[str, Any] = {
            "tokens_per_second": round(med, 1),
            "gflops": round(med * flops / 1e9, 2),
            "rounds": [round(x, 1) for x in tps],
            "other_cores": noise[name],
            "warmup_seconds": warmup[name],
        }
        for ref, label in REFERENCES.items():
            if ref in samples and ref != name:
                ratios = [a / b for a, b in zip(tps, samples[ref], strict=True)]
                entry[f"ratio_over_{label}"] = round(statistics.median(ratios), 3)
                quiet = [
                    a / b
                    for a, b, na, nb in zip(tps, samples[ref], noise[name], noise[ref], strict=True)
                    if max(na, nb) < QUIET_CORES
                ]
                entry[f"quiet_ratio_over_{label}"] = round(statistics.median(quiet), 3) if quiet else None
                entry[f"quiet_rounds_{label}"] = len(quiet)
        out["variants"][name] = entry
    out["load_average_per_round"] = loads
    return out


def render(results: list[dict[str, Any]], peak: MatmulPeak) -> str:
    rows = []
    for res in results:
        for name, e in res["variants"].items():
            rows.append(
                [
                    f"{res['workload']} {name}",
                    f"{e['tokens_per_second']:,.0f}",
                    f"{e['gflops']:.1f}",
                    f"{e['percent_of_peak']:.1f}",
                    f"{e['ratio_over_torch']:.2f}x" if "ratio_over_torch" in e else "–",
                    quiet_cell(e, "torch"),
                    f"{e['ratio_over_torch_bf16']:.2f}x" if "ratio_over_torch_bf16" in e else "–",
                    f"{e['ratio_over_stock']:.2f}x" if "ratio_over_stock" in e else "–",
                    f"{statistics.median(e['other_cores']):.2f}",
                    f"{min(res['load_average_per_round']):.2f}-{max(res['load_average_per_round']):.2f}",
                ]
            )
    rounds = len(results[0]["load_average_per_round"])
    title = (
        f"Train step tokens/s (median of {rounds} interleaved rounds; ratios: median of per-round ratios; "
        f"matmul peak {peak.best:.1f} GFLOP/s)"
    )
    headers = [
        "workload variant",
        "tokens/s",
        "GFLOP/s",
        "% peak",
        "/ torch",
        "quiet / torch",
        "/ torch bf16",
        "/ stock",
        "noise",
        "load avg",
    ]
    notes = (
        "  noise: cores kept busy by other processes during a block (median); quiet / torch: the median\n"
        f"  ratio over the rounds where both blocks had noise < {QUIET_CORES} cores (how many). Trust it\n"
        "  over the plain ratio: PyTorch's 2 threads stall when another process holds a core.\n"
        "  % peak is of the float32 matmul peak, also for the bf16 variants."
    )
    return table(title, headers, rows) + "\n" + notes


def quiet_cell(entry: dict[str, Any], ref: str) -> str:
    if f"quiet_ratio_over_{ref}" not in entry:
        return "–"
    ratio = entry[f"quiet_ratio_over_{ref}"]
    return f"{ratio:.2f}x ({entry[f'quiet_rounds_{ref}']})" if ratio is not None else "– (0)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--workloads", default="small,standard,large", help="comma-separated: small,standard,large"
    )
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (pairs) per workload")
    ap.add_argument(
        "--variant", action="append", default=[], help="an extra variant, e.g. fast:chains=1,jit=0"
    )
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--output", type=Path, default=RESULTS / "kernel.json")
    ap.add_argument(
        "--threads",
        metavar="INTRA[,INTER]",
        help="TensorFlow intra-op (and inter-op) threads, torch.set_num_threads(INTRA): '1' compares "
        "single-core efficiency, which another process on the second core disturbs far less",
    )
    args = ap.parse_args(argv)
    if args.threads:
        set_threads(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    specs = [*DEFAULT_FAST, "stock", *args.variant] + ([] if args.no_torch else list(DEFAULT_TORCH))
    variants = [Variant(s) for s in dict.fromkeys(specs)]
    info = machine()
    peak = MatmulPeak()
    peak.measure(tries=5)
    results = []
    for name in args.workloads.split(","):
        results.append(measure(WORKLOADS[name], variants, args.rounds, peak))
    for res in results:  # against the best peak sample of the whole run (the quietest moment)
        for e in res["variants"].values():
            e["percent_of_peak"] = round(100 * e["gflops"] / peak.best, 1)
    print(render(results, peak))
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    doc = {
        "benchmark": "lstmcli fast LSTM kernel train step",
        "threads": args.threads or "default (TensorFlow: all cores; torch: 2)",
        "command": " ".join(
            ["python", "benchmarks/bench_kernel.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "matmul_peak": peak.to_dict(),
        "workloads": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
