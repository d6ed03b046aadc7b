"""`inspect`: one recurrent layer's outputs, hidden state and cell state on some sequences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import runs
from lstmcli.config import Config
from lstmcli.data import config_sequences, encode_texts, joiner, vocab_of
from lstmcli.engine import Engine, LayerStates
from lstmcli.errors import UsageError


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
    if p.is_dir():
        if sets:
            raise UsageError(f"{p}: --set applies to configs; a run directory keeps its config")
        run = runs.open_run(p)
        return Target(p, run.config, run)
    return Target(p, config_mod.load(p, sets), None)


def make_engine(t: Target, engine: str = "auto") -> Engine:
    from lstmcli.engine import KerasEngine

    if t.run is None:
        return KerasEngine.from_config(t.cfg)
    return KerasEngine.from_file(t.cfg, t.run.model_path)


def inspect(t: Target, texts: list[str] | None, *, layer: int = 0, engine: str = "auto") -> InspectResult:
    cfg = t.cfg
    seqs = encode_texts(cfg, texts, where="--input") if texts else config_sequences(cfg)
    eng = make_engine(t, engine)
    n_layers = eng.num_layers()
    if not 0 <= layer < n_layers:
        raise UsageError(f"--layer: expected 0..{n_layers - 1}, got {layer}")
    vocab = vocab_of(cfg)
    states = eng.layer_states(layer, seqs, cfg.model.return_sequences)
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
    )
