"""Run a model on token ids: next-token probabilities, and the states of one recurrent layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lstmcli import tasks
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
        from lstmcli.model import backend

        k = backend.keras()
        kinds = (k.layers.LSTM, k.layers.GRU, k.layers.SimpleRNN)
        self.recurrent = [layer for layer in model.layers if isinstance(layer, kinds)]

    @classmethod
    def from_config(cls, cfg: Config) -> KerasEngine:
        """An untrained model whose weights come from the config's seed (same seed, same numbers)."""
        from lstmcli.model import backend

        backend.set_seed(cfg.seed)
        return cls(cfg, backend.build_model(cfg))

    @classmethod
    def from_file(cls, cfg: Config, path: Any) -> KerasEngine:
        from lstmcli.model import backend, kerasfile

        # Read the architecture without Keras first: a file holding layers lstmcli did not
        # write (a Lambda, a custom object) is refused before Keras sees it; Keras then loads
        # in safe mode, which never deserialises code either.
        check_spec(cfg, kerasfile.load_spec(path), path)  # as the NumPy engine does
        try:
            model = backend.load_model(path)
        except Exception as e:  # Keras raises ValueError/OSError/KeyError for damaged files
            from lstmcli.errors import RunDirError

            raise RunDirError(f"{path}: Keras cannot load it: {str(e).splitlines()[0]}") from None
        return cls(cfg, model)

    def num_layers(self) -> int:
        return len(self.recurrent)

    def next_probabilities(self, ids: np.ndarray) -> np.ndarray:
        x = self.vocab.one_hot(ids[None, :])
        probs = np.asarray(self.model(x, training=False))
        # A classifier's output is (batch, labels): its last state's label probabilities.
        return np.asarray(probs[0] if probs.ndim == 2 else probs[0, -1], np.float64)

    def layer_weights(self, layer: int) -> list[np.ndarray]:
        return [np.asarray(w) for w in self.recurrent[layer].get_weights()]

    def layer_states(self, layer: int, seqs: list[np.ndarray], return_sequences: bool) -> LayerStates:
        from lstmcli.model import backend

        k = backend.keras()
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


class NumpyEngine:
    """The saved weights run through lstmcli's NumPy equations (cell.py); no TensorFlow at all."""

    name = "numpy"

    def __init__(self, cfg: Config, spec: Any) -> None:
        self.cfg = cfg
        self.spec = spec
        self.vocab = vocab_of(cfg)

    @classmethod
    def from_file(cls, cfg: Config, path: Any, cache: Any = None) -> NumpyEngine:
        """`cache`: the run directory's weights cache (`kerasfile.load_spec`)."""
        from lstmcli.model import kerasfile

        spec = kerasfile.load_spec(path, cache)
        check_spec(cfg, spec, path)
        return cls(cfg, spec)

    def num_layers(self) -> int:
        return len(self.spec.layers)

    def next_probabilities(self, ids: np.ndarray) -> np.ndarray:
        from lstmcli.model.cell import forward

        x = self.vocab.one_hot(ids[None, :])
        # A classifier masks all-zero rows (padding) as its Masking layer does.
        _, probs = forward(self.spec.stack(), x, mask=x.any(axis=-1) if self.spec.masking else None)
        return np.asarray(probs[0, -1], dtype=np.float64)

    def layer_weights(self, layer: int) -> list[np.ndarray]:
        w = self.spec.layers[layer].weights
        return [w.kernel, w.recurrent_kernel, w.bias]

    def traces(self, layer: int, seqs: list[np.ndarray]) -> list[Any]:
        """The full per-step trace (every gate) of one layer, one entry per sequence."""
        return layer_traces(
            self.cfg.model.cell, [self.layer_weights(n) for n in range(layer + 1)], self.vocab, seqs
        )

    def layer_states(self, layer: int, seqs: list[np.ndarray], return_sequences: bool) -> LayerStates:
        return states_from_traces(self.traces(layer, seqs), return_sequences)


def layer_traces(cell: str, weights: list[list[np.ndarray]], vocab: Any, seqs: list[np.ndarray]) -> list[Any]:
    """Run the NumPy equations through layers 0..len(weights)-1 and return the last one's traces.

    `weights` holds [kernel, recurrent_kernel, bias] of each layer, in Keras's layout.
    """
    from lstmcli.model import cell as cellmod

    spec = cellmod.CELLS[cell]
    out: list[Any] = [None] * len(seqs)
    for group in _groups(seqs):
        x = vocab.one_hot(np.stack([seqs[i] for i in group]))
        trace = None
        for kernel, recurrent, bias in weights:
            trace = spec.run(x, spec.weights(kernel, recurrent, bias))
            x = trace.h
        for j, i in enumerate(group):
            out[i] = _slice_trace(trace, j)
    return out


def _slice_trace(trace: Any, j: int) -> Any:
    from dataclasses import fields, replace

    return replace(trace, **{f.name: getattr(trace, f.name)[j] for f in fields(trace)})


def states_from_traces(traces: list[Any], return_sequences: bool) -> LayerStates:
    has_cell = hasattr(traces[0], "c")
    return LayerStates(
        outputs=[t.h if return_sequences else t.h[-1] for t in traces],
        hidden=[t.h[-1] for t in traces],
        cell=[t.c[-1] for t in traces] if has_cell else None,
    )


def _shape(cell: str, units: list[int], vocab: int) -> str:
    layers = f"{len(units)} layer{'s' if len(units) != 1 else ''}"
    sizes = f"{units[0]} units" if len(set(units)) == 1 else f"{', '.join(map(str, units))} units"
    return f"{cell}, {layers} of {sizes}, a {vocab}-token vocabulary"


def check_spec(cfg: Config, spec: Any, path: Any) -> None:
    """A run directory checks itself: its model.keras must be the model its config.yaml
    describes (cell, layers, units, vocabulary); a file swapped in from another run is refused
    (exit 2) naming both, whichever engine runs it."""
    from pathlib import Path

    from lstmcli.errors import RunDirError

    vocab = len(cfg.vocab)
    want = _shape(cfg.model.cell, [cfg.model.units] * cfg.model.num_layers, vocab)
    if tasks.of(cfg).output == "labels" and isinstance(cfg.labels, list):
        want += f", {len(cfg.labels)} labels"
    kinds = {layer.kind for layer in spec.layers}
    got_cell = next(iter(kinds)) if len(kinds) == 1 else "/".join(sorted(kinds))
    got_units = [layer.units for layer in spec.layers] or [0]
    out_size = int(spec.dense.kernel.shape[1])
    got = _shape(got_cell, got_units, spec.input_dim)
    if getattr(spec, "classifier", False):
        got += f", {out_size} labels"
    elif out_size != spec.input_dim:
        got += f" in, {out_size} out"
    if got != want:
        config_file = Path(path).parent / "config.yaml"
        raise RunDirError(
            f"{path}: does not match {config_file}: the config describes {want}, the model file holds {got}"
        )
