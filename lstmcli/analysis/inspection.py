"""`inspect`: one recurrent layer's outputs, hidden state and cell state on some sequences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import runs, tasks
from lstmcli.config import Config
from lstmcli.data import encode_texts, joiner, vocab_of
from lstmcli.errors import UsageError
from lstmcli.model.engine import Engine, LayerStates


@dataclass
class InspectResult:
    target: str
    source: str  # "config seed <n>" or "run directory"
    engine: str
    cell: str
    layer: int
    num_layers: int
    units: int
    return_sequences: bool
    vocab: tuple[str, ...]
    sep: str
    inputs: list[list[str]]
    x: list[np.ndarray]
    states: LayerStates
    steps: list[Any] | None = None
    verify: dict[str, Any] | None = None


@dataclass
class Target:
    """What `inspect`/`predict` run on: a config (seeded weights) or a run directory."""

    path: Path
    cfg: Config
    run: runs.Run | None

    @property
    def source(self) -> str:
        return "run directory" if self.run else f"config seed {self.cfg.seed}"


def resolve_target(target: str, sets: list[str] | None = None) -> Target:
    from lstmcli import config as config_mod

    p = Path(target)
    if not p.exists():
        raise UsageError(
            f"{p}: expected a trained run directory or a YAML config file, got no such file or directory"
        )
    if p.is_dir():
        if sets:
            raise UsageError(f"{p}: --set applies to configs; a run directory keeps its config")
        run = runs.open_run(p)
        return Target(p, run.config, run)
    # vocab: auto (and labels: auto) is built from the config's data, as training builds it.
    cfg = config_mod.load(p, sets)
    return Target(p, tasks.of(cfg).resolve(cfg), None)


def make_engine(t: Target, engine: str = "auto") -> Engine:
    """auto: a run directory runs on NumPy (no TensorFlow import), a config on Keras (its
    weights come from Keras's seeded initialisers)."""
    from lstmcli.model.engine import KerasEngine, NumpyEngine

    if engine not in ("auto", "numpy", "keras"):
        raise UsageError(f"--engine: expected auto, numpy or keras, got {engine!r}")
    if t.run is None:
        if engine == "numpy":
            raise UsageError(
                f"{t.path}: --engine numpy runs a trained run directory; a config's seeded "
                "weights come from Keras (use --engine auto or keras)"
            )
        return KerasEngine.from_config(t.cfg)
    if engine == "keras":
        return KerasEngine.from_file(t.cfg, t.run.model_path)
    return NumpyEngine.from_file(t.cfg, t.run.model_path, t.run.weights_cache)


TOLERANCE = 1e-5


def gate_steps(cell: str, vocab: tuple[str, ...], seqs: list[np.ndarray], traces: list[Any]) -> list[Any]:
    """Per sequence, per timestep: the token and every gate and state, as lists per unit."""
    from lstmcli.model.cell import CELLS

    spec = CELLS[cell]
    out = []
    for ids, tr in zip(seqs, traces, strict=True):
        steps = []
        for t, tok in enumerate(ids):
            step: dict[str, Any] = {"token": vocab[int(tok)]}
            for shown, attr in spec.steps:
                step[shown] = [float(v) for v in getattr(tr, attr)[t]]
            if not spec.has_cell_state:
                step["c"] = None
            steps.append(step)
        out.append(steps)
    return out


def inspect(
    t: Target,
    texts: list[str] | None,
    *,
    layer: int = 0,
    engine: str = "auto",
    gates: bool = False,
    verify: bool = False,
) -> InspectResult:
    from lstmcli.model.engine import layer_traces, states_from_traces

    cfg = t.cfg
    seqs = encode_texts(cfg, texts, where="--input") if texts else tasks.of(cfg).sequences(cfg)
    eng = make_engine(t, engine)
    n_layers = eng.num_layers()
    if not 0 <= layer < n_layers:
        raise UsageError(f"--layer: expected 0..{n_layers - 1}, got {layer}")
    vocab = vocab_of(cfg)
    weights = [eng.layer_weights(n) for n in range(layer + 1)]
    traces = (
        layer_traces(cfg.model.cell, weights, vocab, seqs)
        if (gates or verify or eng.name == "numpy")
        else None
    )
    if eng.name == "numpy":
        assert traces is not None
        states = states_from_traces(traces, cfg.model.return_sequences)
    else:
        states = eng.layer_states(layer, seqs, cfg.model.return_sequences)
    checked = None
    if verify:
        assert traces is not None
        keras_eng = eng if eng.name == "keras" else make_engine(t, "keras")
        reference = keras_eng.layer_states(layer, seqs, cfg.model.return_sequences)
        mine = states_from_traces(traces, cfg.model.return_sequences)
        diff = excess = 0.0
        for a_list, b_list in (
            (mine.outputs, reference.outputs),
            (mine.hidden, reference.hidden),
            (mine.cell, reference.cell),
        ):
            if a_list is None or b_list is None:
                continue
            for a, b in zip(a_list, b_list, strict=True):
                gap = np.abs(a.astype(np.float64) - b)
                diff = max(diff, float(np.max(gap, initial=0.0)))
                # Within 1e-5 absolute, or 1e-5 of the value's size: a float32 cell state of 210
                # has a spacing of 1.5e-5, finer than no engine can agree (numpy.allclose's rule).
                bound = TOLERANCE + TOLERANCE * np.abs(b)
                excess = max(excess, float(np.max(gap / bound, initial=0.0)))
        checked = {
            "max_abs_diff": diff,
            "max_scaled_diff": excess,  # the largest |a - b| / (1e-5 + 1e-5 |b|); ok when <= 1
            "tolerance": TOLERANCE,
            "ok": excess <= 1.0,
            "compared": "NumPy equations (cell.py) vs Keras layer: outputs, hidden and cell state",
        }
    return InspectResult(
        target=str(t.path),
        source=t.source,
        engine=eng.name,
        cell=cfg.model.cell,
        layer=layer,
        num_layers=n_layers,
        units=cfg.model.units,
        return_sequences=cfg.model.return_sequences,
        vocab=vocab.tokens,
        sep=joiner(cfg),
        inputs=[[vocab.tokens[i] for i in s] for s in seqs],
        x=[vocab.one_hot(s) for s in seqs],
        states=states,
        steps=gate_steps(cfg.model.cell, vocab.tokens, seqs, traces) if gates and traces else None,
        verify=checked,
    )
