"""Run a model on token ids: next-token probabilities, and the states of one recurrent layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lstmcli.config import Config
from lstmcli.data import vocab_of


@dataclass
class LayerStates:
    """One recurrent layer run with return_state=True on a batch of sequences.

    outputs: (N, units), or (N, T, units) with return_sequences; hidden/cell: (N, units);
    cell is None for cells that have none (GRU, simple RNN).
    """

    outputs: list[np.ndarray]
    hidden: list[np.ndarray]
    cell: list[np.ndarray] | None


class Engine(Protocol):
    name: str

    def num_layers(self) -> int: ...

    def next_probabilities(self, ids: np.ndarray) -> np.ndarray: ...

    def layer_states(self, layer: int, seqs: list[np.ndarray], return_sequences: bool) -> LayerStates: ...

    def layer_weights(self, layer: int) -> list[np.ndarray]: ...


def _groups(seqs: list[np.ndarray]) -> list[list[int]]:
    """Indices of sequences grouped by length, so each group runs as one batch."""
    by_len: dict[int, list[int]] = {}
    for n, s in enumerate(seqs):
        by_len.setdefault(len(s), []).append(n)
    return list(by_len.values())


class KerasEngine:
    """The Keras model itself (from a config's seed, or a run directory's saved file)."""

    name = "keras"

    def __init__(self, cfg: Config, model: Any) -> None:
        self.cfg = cfg
        self.model = model
        self.vocab = vocab_of(cfg)
        k = __import__("keras")
        kinds = (k.layers.LSTM, k.layers.GRU, k.layers.SimpleRNN)
        self.recurrent = [layer for layer in model.layers if isinstance(layer, kinds)]

    @classmethod
    def from_config(cls, cfg: Config) -> KerasEngine:
        """An untrained model whose weights come from the config's seed (same seed, same numbers)."""
        from lstmcli import backend

        backend.set_seed(cfg.seed)
        return cls(cfg, backend.build_model(cfg))

    @classmethod
    def from_file(cls, cfg: Config, path: Any) -> KerasEngine:
        from lstmcli import backend

        return cls(cfg, backend.load_model(path))

    def num_layers(self) -> int:
        return len(self.recurrent)

    def next_probabilities(self, ids: np.ndarray) -> np.ndarray:
        x = self.vocab.one_hot(ids[None, :])
        probs = np.asarray(self.model(x, training=False))
        return probs[0, -1].astype(np.float64)

    def layer_weights(self, layer: int) -> list[np.ndarray]:
        return [np.asarray(w) for w in self.recurrent[layer].get_weights()]

    def layer_states(self, layer: int, seqs: list[np.ndarray], return_sequences: bool) -> LayerStates:
        k = __import__("keras")
        src = self.recurrent[layer]
        probe = src.__class__.from_config(
            {
                **src.get_config(),
                "return_sequences": return_sequences,
                "return_state": True,
                "name": f"{src.name}_probe",
            }
        )
        weights = src.get_weights()
        probe.build((None, None, weights[0].shape[0]))
        probe.set_weights(weights)
        n = len(seqs)
        outputs: list[Any] = [None] * n
        hidden: list[Any] = [None] * n
        cell: list[Any] | None = [None] * n if isinstance(src, k.layers.LSTM) else None
        # The layers before this one (and the Dense after) are not needed: feed the one-hot
        # input through the earlier recurrent layers to get this layer's input sequence.
        feeders = self.recurrent[:layer]
        for group in _groups(seqs):
            x = self.vocab.one_hot(np.stack([seqs[i] for i in group]))
            for f in feeders:
                x = f(x, training=False)
            result = probe(x, training=False)
            out = np.asarray(result[0])
            h = np.asarray(result[1])
            c = np.asarray(result[2]) if cell is not None else None
            for j, i in enumerate(group):
                outputs[i], hidden[i] = out[j], h[j]
                if cell is not None and c is not None:
                    cell[i] = c[j]
        return LayerStates(outputs, hidden, cell)
