"""PyTorch twin of an lstmcli workload (nn.LSTM + Linear + CrossEntropy + Adam), timed per epoch."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn


class NextToken(nn.Module):
    """One-hot (B, T, V) → LSTM(U, batch_first) → Linear(V) logits per step."""

    def __init__(self, vocab: int, units: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(vocab, units, batch_first=True)
        self.out = nn.Linear(units, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(x)
        return self.out(hidden)


def load(path: Path) -> tuple[dict[str, Any], torch.Tensor]:
    """The config and its inline sequences as token ids (N, T + 1)."""
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    index = {t: i for i, t in enumerate(cfg["vocab"])}
    ids = torch.tensor([[index[c] for c in seq] for seq in cfg["data"]["sequences"]])
    return cfg, ids


def train(cfg: dict[str, Any], ids: torch.Tensor, max_seconds: float) -> list[tuple[int, float]]:
    """Train as lstmcli does (shuffled batches, next-token loss): (tokens, seconds) of each epoch."""
    torch.manual_seed(cfg["seed"])
    v, tr = len(cfg["vocab"]), cfg["train"]
    model = NextToken(v, cfg["model"]["units"])
    opt = torch.optim.Adam(model.parameters(), lr=tr["learning_rate"])
    loss_fn = nn.CrossEntropyLoss()
    epochs: list[tuple[int, float]] = []
    start = time.perf_counter()
    for _ in range(tr["epochs"]):
        t0, tokens = time.perf_counter(), 0
        for batch in torch.randperm(len(ids)).split(tr["batch_size"]):
            seq = ids[batch]
            x = nn.functional.one_hot(seq[:, :-1], v).float()
            loss = loss_fn(model(x).reshape(-1, v), seq[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tokens += seq[:, 1:].numel()
            if time.perf_counter() - start > max_seconds:
                break
        epochs.append((tokens, time.perf_counter() - t0))
        if time.perf_counter() - start > max_seconds:
            break
    return epochs


def main() -> None:
    """Reads an lstmcli config (vocabulary, inline sequences, units, batch, epochs, learning rate);
    prints one JSON document: the seconds and tokens/s of every epoch."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config", type=Path, help="an lstmcli config with inline sequences")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=float("inf"),
        help="stop after the step that crosses this (the last epoch counts the steps it did): on a "
        "contended machine PyTorch's thread pool can slow down 100-fold, and the suite must end",
    )
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    cfg, ids = load(args.config)
    epochs = train(cfg, ids, args.max_seconds)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "truncated": len(epochs) < cfg["train"]["epochs"] or epochs[-1][0] < ids[:, 1:].numel(),
        "epoch_seconds": [round(s, 6) for _, s in epochs],
        "tokens_per_second": [round(n / s, 1) for n, s in epochs],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
