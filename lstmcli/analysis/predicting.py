"""`predict`: next-token probabilities for texts, and generation (greedy or sampled)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lstmcli.analysis.inspection import Target
from lstmcli.data import encode_texts, joiner, vocab_of
from lstmcli.errors import UsageError
from lstmcli.model.engine import Engine


@dataclass
class PredictItem:
    text: str
    tokens: list[str]
    top: list[tuple[str, float]]
    generated: str = ""
    generated_tokens: list[str] = field(default_factory=list)


@dataclass
class PredictResult:
    run_dir: str
    engine: str
    temperature: float
    seed: int | None
    steps: int
    sep: str
    items: list[PredictItem]


def check_options(top_k: int, steps: int, temperature: float) -> None:
    if top_k < 1:
        raise UsageError(f"--top-k: expected a positive integer, got {top_k}")
    if steps < 0:
        raise UsageError(f"--steps: expected 0 or more, got {steps}")
    if not math.isfinite(temperature) or temperature < 0:
        raise UsageError(f"--temperature: expected a number >= 0, got {temperature}")


def predict(
    t: Target,
    eng: Engine,
    texts: list[str],
    *,
    top_k: int = 3,
    steps: int = 0,
    temperature: float = 0.0,
    seed: int | None = None,
) -> PredictResult:
    check_options(top_k, steps, temperature)
    cfg = t.cfg
    vocab = vocab_of(cfg)
    seqs = encode_texts(cfg, texts)
    if steps and temperature > 0 and seed is None:
        # Sampling without a seed still reports the one it drew, so the run can be repeated.
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    # Only sampling draws: greedy decoding and plain next-token probabilities never import
    # numpy.random (~10 ms of predict's start-up; benchmarks/README.md).
    rng = np.random.default_rng(seed) if steps and temperature > 0 else None
    items = []
    for text, ids in zip(texts, seqs, strict=True):
        probs = eng.next_probabilities(ids)
        order = np.argsort(-probs, kind="stable")[: min(top_k, vocab.size)]
        item = PredictItem(
            text, [vocab.tokens[i] for i in ids], [(vocab.tokens[i], float(probs[i])) for i in order]
        )
        cur = list(ids)
        for step in range(steps):
            p = probs if step == 0 else eng.next_probabilities(np.asarray(cur, dtype=np.int32))
            nxt = int(np.argmax(p)) if temperature == 0 else _sample(p, temperature, rng)
            cur.append(nxt)
            item.generated_tokens.append(vocab.tokens[nxt])
        item.generated = joiner(cfg).join(item.generated_tokens)
        items.append(item)
    return PredictResult(str(t.path), eng.name, temperature, seed, steps, joiner(cfg), items)


def _sample(p: np.ndarray, temperature: float, rng: np.random.Generator | None) -> int:
    assert rng is not None  # predict makes one whenever it samples
    logits = np.log(np.clip(p, 1e-30, None)) / temperature
    logits -= logits.max()
    q = np.exp(logits)
    q /= q.sum()
    return int(rng.choice(len(q), p=q))
