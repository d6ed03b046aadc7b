"""The three training workloads, the lstmcli configs that describe them, and their FLOP count."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

VOCAB = list(string.digits + string.ascii_letters + "-_")  # 64 single-character tokens
BATCH = 64
LEARNING_RATE = 0.01
NO_CHECKPOINTS = 1_000_000  # train.checkpoint_every: only the final save, outside the timed epochs

FLOP_COUNT = (
    "training FLOPs per token (one timestep of one sequence; D = V = vocabulary, one-hot input "
    "multiplied as a dense matrix, as both frameworks do): LSTM forward 2·(D+U)·4U (the four gates' "
    "multiply-adds over [x_t, h_t-1], 2 FLOPs each) + 13·U elementwise (4 bias adds, 3 sigmoids, "
    "2 tanh, c = f·c + i·g, h = o·tanh(c)); Dense forward 2·U·V + 5·V (softmax, cross-entropy); "
    "backward ≈ 2 × forward, so training = 3 × forward. A batch is B·T tokens. Not counted: the "
    "Adam update (≈ 10 FLOPs a parameter a step, < 0.2 % of a step here) and building the one-hot."
)


@dataclass(frozen=True)
class Workload:
    name: str
    units: int  # U
    timesteps: int  # T: training timesteps (inline sequences hold T + 1 tokens)
    steps: int  # steps of one epoch: the config holds steps × batch sequences
    epochs: int  # the first is tracing and warm-up; the median is over the others
    batch: int = BATCH  # B
    vocab: int = len(VOCAB)  # V = D (one-hot)

    @property
    def sequences(self) -> int:
        return self.steps * self.batch

    @property
    def shape(self) -> str:
        return f"U={self.units} T={self.timesteps} B={self.batch} V={self.vocab}"


def workloads(quick: bool) -> list[Workload]:
    """small, standard, large; `quick` keeps the shapes and cuts the steps and epochs."""
    if quick:
        return [
            Workload("small", units=32, timesteps=16, steps=4, epochs=2),
            Workload("standard", units=128, timesteps=64, steps=2, epochs=2),
            Workload("large", units=512, timesteps=128, steps=1, epochs=2),
        ]
    return [
        Workload("small", units=32, timesteps=16, steps=16, epochs=10),
        Workload("standard", units=128, timesteps=64, steps=16, epochs=5),
        Workload("large", units=512, timesteps=128, steps=4, epochs=3),
    ]


def long_workloads(quick: bool) -> list[Workload]:
    """The end-to-end section's runs: each about a minute of lstmcli training on this 2-core machine
    (small ~500k, standard ~300k, large ~35k tokens/s), so a compile is part of the bill."""
    if quick:
        return [Workload(w.name, w.units, w.timesteps, steps=2, epochs=2) for w in workloads(True)]
    return [
        Workload("small", units=32, timesteps=16, steps=64, epochs=450),
        Workload("standard", units=128, timesteps=64, steps=32, epochs=140),
        Workload("large", units=512, timesteps=128, steps=8, epochs=32),
    ]


def lstm_forward_flops(d: int, u: int) -> int:
    """FLOPs of one LSTM step for one sequence: 4 gates × (D+U) multiply-adds × 2, plus elementwise."""
    return 2 * (d + u) * 4 * u + 13 * u


def dense_forward_flops(u: int, v: int) -> int:
    """The per-step Dense to the vocabulary, then softmax and cross-entropy."""
    return 2 * u * v + 5 * v


def train_flops_per_token(w: Workload) -> int:
    """Forward + backward (≈ 2 × forward) for one token; a step is B·T of these."""
    forward = lstm_forward_flops(w.vocab, w.units) + dense_forward_flops(w.units, w.vocab)
    return 3 * forward


def config(w: Workload, seed: int = 0) -> dict[str, Any]:
    """The lstmcli config of a workload: random inline sequences of T + 1 tokens (T training steps)."""
    rng = random.Random(seed)
    sequences = ["".join(rng.choices(VOCAB, k=w.timesteps + 1)) for _ in range(w.sequences)]
    return {
        "vocab": VOCAB,
        "sequence_length": w.timesteps + 1,
        "seed": seed,
        "model": {"cell": "lstm", "units": w.units, "num_layers": 1},
        "data": {"sequences": sequences},
        "train": {
            "epochs": w.epochs,
            "batch_size": w.batch,
            "learning_rate": LEARNING_RATE,
            "optimizer": "adam",
            "checkpoint_every": NO_CHECKPOINTS,
        },
    }


def write_config(w: Workload, folder: Path) -> Path:
    path = folder / f"{w.name}.yaml"
    path.write_text(yaml.safe_dump(config(w), sort_keys=False), encoding="utf-8")
    return path
