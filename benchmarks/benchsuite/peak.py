"""The matmul peak of this machine, measured in the run: float32 NumPy matmul, best of several."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SIZE = 2048


@dataclass
class MatmulPeak:
    """Samples of n×n float32 matmul GFLOP/s (2·n³ FLOPs each), taken at several points of the run:
    on a shared machine the best one is the closest to what the cores can do."""

    n: int = SIZE
    samples: list[float] = field(default_factory=list)

    def measure(self, tries: int) -> float:
        rng = np.random.default_rng(0)
        a = rng.random((self.n, self.n), dtype=np.float32)
        b = rng.random((self.n, self.n), dtype=np.float32)
        a @ b  # warm-up: thread pool, caches
        for _ in range(tries):
            t0 = time.perf_counter()
            a @ b
            self.samples.append(2 * self.n**3 / (time.perf_counter() - t0) / 1e9)
        return max(self.samples[-tries:])

    @property
    def best(self) -> float:
        return max(self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": f"NumPy float32 matmul {self.n}x{self.n}, 2·n³ FLOPs, best of {len(self.samples)}",
            "best_gflops": round(self.best, 1),
            "median_gflops": round(float(np.median(self.samples)), 1),
            "samples_gflops": [round(s, 1) for s in self.samples],
        }
