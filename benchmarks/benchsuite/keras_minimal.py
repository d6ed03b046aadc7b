"""A minimal hand-written Keras script: the model lstmcli builds, trained on a config's data."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import yaml


class EpochTimer(keras.callbacks.Callback):  # type: ignore[misc]
    """Seconds of each epoch, measured as lstmcli measures them (epoch begin → epoch end)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds.append(time.perf_counter() - self._t0)


def main() -> None:
    """Same model (one-hot → LSTM(return_sequences) → Dense softmax), Adam, next-token loss, same
    epochs and batch, plain `model.fit` on NumPy arrays; no run directory, no checkpoints. Prints
    one JSON document: the seconds and tokens/s of every epoch and of the whole fit.

        python benchmarks/benchsuite/keras_minimal.py CONFIG.yaml
    """
    cfg = yaml.safe_load(Path(sys.argv[1]).read_text(encoding="utf-8"))
    vocab, tr = cfg["vocab"], cfg["train"]
    index = {t: i for i, t in enumerate(vocab)}
    ids = np.array([[index[c] for c in seq] for seq in cfg["data"]["sequences"]])
    x = np.eye(len(vocab), dtype="float32")[ids[:, :-1]]
    y = ids[:, 1:]

    keras.utils.set_random_seed(cfg["seed"])
    model = keras.Sequential(
        [
            keras.Input((None, len(vocab))),
            keras.layers.LSTM(cfg["model"]["units"], return_sequences=True),
            keras.layers.Dense(len(vocab), activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(tr["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    timer = EpochTimer()
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=tr["batch_size"], epochs=tr["epochs"], verbose=0, callbacks=[timer])
    fit_seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "keras": keras.__version__,
                "fit_seconds": round(fit_seconds, 6),
                "epoch_seconds": [round(s, 6) for s in timer.seconds],
                "tokens_per_second": [round(y.size / s, 1) for s in timer.seconds],
            }
        )
    )


if __name__ == "__main__":
    main()
