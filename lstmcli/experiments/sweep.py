"""Sweeps: a Cartesian grid of `--set` values, or an Optuna search over a space file; one
ordinary run directory per point and `sweep.json` (written atomically after every point) with
every point, its status, its metrics and the best one. `--resume` finishes an interrupted sweep.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lstmcli import config as config_mod
from lstmcli import runs
from lstmcli.config import Config
from lstmcli.errors import Interrupted, LstmcliError, UsageError

SWEEP = "sweep.json"
DONE = ("finished", "pruned", "failed")


class Pruned(LstmcliError):
    """A search trial stopped by the pruner (its run directory stays resumable)."""


@dataclass
class Objective:
    metric: str
    mode: str  # min | max

    def better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b


@dataclass
class Point:
    name: str
    values: dict[str, Any]
    status: str = "pending"  # pending | finished | pruned | failed | interrupted
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    trial: int | None = None
    error: str | None = None
    host: str | None = None  # with a study (--storage, --workers): the host that ran it
    run_dir: str | None = None  # … and its run directory there
    attempts: list[int] = field(default_factory=list)  # … and its trials (a retry after a kill)


@dataclass
class Plan:
    """Everything a sweep needs, checked before anything is written."""

    kind: str  # grid | search
    out: Path
    base: dict[str, Any]  # the config with the fixed --set values, every default filled in
    source: str
    objective: Objective
    keys: list[str]
    points: list[Point]
    requires: list[str] = field(default_factory=list)
    space: dict[str, Any] | None = None
    trials: int = 0
    seed: int = 0
    storage: str | None = None  # an Optuna storage URL, password removed; None: study.db inside
    study: str | None = None  # the study's name in it (None: no study, a grid in this process)
    workers: int = 1

    @property
    def uses_study(self) -> bool:
        return self.study is not None

    def best(self) -> Point | None:
        """The best finished point by the objective (None before any finished)."""
        return best_point(self.points, self.objective)

    def to_json(self) -> dict[str, Any]:
        """sweep.json, the sweep folder's own file (`sweep --json` prints it without `base`:
        `render.json_out.sweep_json`)."""
        best = self.best()
        return {
            "kind": self.kind,
            "dir": str(self.out),
            "config": self.source,
            "objective": asdict(self.objective),
            "keys": self.keys,
            "space": self.space,
            "trials": self.trials if self.kind == "search" else len(self.points),
            "seed": self.seed,
            "requires": self.requires,
            "points": [asdict(p) for p in self.points],
            "best": asdict(best) if best is not None else None,
            "storage": self.storage,
            "study": self.study,
            "workers": self.workers,
            "base": self.base,
        }


# ---------------------------------------------------------------- parsing


def split_values(raw: str) -> list[str]:
    """`8,16,32` → ['8', '16', '32']; commas inside [...] or {...} do not split."""
    out, depth, cur = [], 0, ""
    for ch in raw:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [v.strip() for v in out]


def parse_grid(sets: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """(fixed `KEY=VALUE` overrides, {key: values} of the keys given several values)."""
    fixed: list[str] = []
    grid: dict[str, list[Any]] = {}
    for item in sets:
        if "=" not in item:
            raise UsageError(f"--set {item}: expected KEY.PATH=V1,V2,…, got no '='")
        key, raw = item.split("=", 1)
        pieces = split_values(raw)
        if any(p == "" for p in pieces):
            raise UsageError(f"--set {item}: expected values after '=' separated by commas, got an empty one")
        if len(pieces) == 1:
            fixed.append(item)
            continue
        key = ".".join(config_mod.parse_set(f"{key}=0")[0])
        if key in grid:
            raise UsageError(f"--set {item}: {key} is given twice")
        grid[key] = [config_mod.parse_set(f"{key}={p}")[1] for p in pieces]
    return fixed, grid


def parse_objective(text: str | None, cfg: Config) -> Objective:
    if text is None:
        return Objective("val_loss" if cfg.train.validation_split > 0 else "loss", "min")
    metric, _, mode = text.partition(":")
    mode = mode or ("max" if "accuracy" in metric else "min")
    if mode not in ("min", "max"):
        raise UsageError(f"--objective {text}: expected METRIC:min or METRIC:max, got {mode!r}")
    available = available_metrics(cfg)
    if metric not in available:
        raise UsageError(f"--objective {text}: expected one of {', '.join(available)}, got {metric!r}")
    return Objective(metric, mode)


def available_metrics(cfg: Config) -> list[str]:
    names = ["loss", "accuracy"]
    if cfg.train.validation_split > 0:
        names += ["val_loss", "val_accuracy"]
    if cfg.train.test_split > 0:
        from lstmcli.analysis.evaluation import METRICS

        names += list(METRICS)
    return names


def read_space(path: Path) -> dict[str, dict[str, Any]]:
    """A search space: dotted keys → {low, high, log, step} or {choices: [...]}."""
    data = config_mod.read_yaml(path)
    if not data:
        raise UsageError(f"{path}: expected a mapping of config keys to ranges, got an empty file")
    space: dict[str, dict[str, Any]] = {}
    for key, spec in data.items():
        where = f"{path}: {key}"
        if not isinstance(spec, dict):
            raise UsageError(f"{where}: expected {{low, high, log}} or {{choices: [...]}}, got {spec!r}")
        extra = set(spec) - {"low", "high", "log", "step", "choices"}
        if extra:
            raise UsageError(
                f"{where}: expected keys low, high, log, step or choices, got {sorted(extra)[0]!r}"
            )
        if "choices" in spec:
            if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
                raise UsageError(
                    f"{where}: expected choices: a non-empty list (and nothing else), got {spec}"
                )
        else:
            lo, hi = spec.get("low"), spec.get("high")
            if not (_number(lo) and _number(hi)):
                raise UsageError(f"{where}: expected numbers low and high, got low {lo!r}, high {hi!r}")
            assert isinstance(lo, int | float) and isinstance(hi, int | float)  # for mypy
            if lo > hi:
                raise UsageError(f"{where}: expected low <= high, got low {lo}, high {hi}")
            if spec.get("log") and lo <= 0:
                raise UsageError(f"{where}: expected low > 0 with log: true, got {lo}")
        space[str(key)] = spec
    return space


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _space_corners(space: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Values that check every key and every bound of a space against the schema."""
    out = []
    for key, spec in space.items():
        for v in spec["choices"] if "choices" in spec else (spec["low"], spec["high"]):
            out.append({key: v})
    return out


# ---------------------------------------------------------------- points


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, str | int):
        return str(v)
    return json.dumps(v, separators=(",", ""))


def short_names(keys: list[str]) -> dict[str, str]:
    """`model.units` → `units`, unless two keys end alike (then the whole dotted key)."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last, strict=True)}


def point_name(values: dict[str, Any], prefix: str = "") -> str:
    names = short_names(list(values))
    text = ",".join(f"{names[k]}={_fmt(v)}" for k, v in values.items())
    return re.sub(r"[/\\\s]", "_", prefix + text)


def point_config(base: dict[str, Any], values: dict[str, Any], source: str) -> Config:
    data = config_mod.apply_sets(copy.deepcopy(base), [f"{k}={json.dumps(v)}" for k, v in values.items()])
    return config_mod.validate(data, source)


def best_point(points: list[Point], objective: Objective) -> Point | None:
    best = None
    for p in points:
        v = p.metrics.get(objective.metric)
        if p.status != "finished" or not isinstance(v, int | float) or not math.isfinite(v):
            continue
        if best is None or objective.better(v, best.metrics[objective.metric]):
            best = p
    return best


def plan(
    config_path: Path,
    sets: list[str],
    out: Path | None,
    objective: str | None,
    requires: list[str],
    space_path: Path | None = None,
    trials: int = 0,
    seed: int | None = None,
    storage: str | None = None,
    study: str | None = None,
    workers: int = 1,
) -> Plan:
    """Check a new sweep completely (every point's config, the objective, the output folder)."""
    from lstmcli import tasks
    from lstmcli.experiments import requirements as gates

    fixed, grid = parse_grid(sets)
    cfg = config_mod.load(config_path, fixed)
    source = str(config_path)
    base = cfg.to_dict()
    obj = parse_objective(objective, cfg)
    gates.check_names([gates.parse(r) for r in requires], available_metrics(cfg))
    if space_path is not None:
        if grid:
            raise UsageError("--search: give --set with single values only (a grid and a search do not mix)")
        if trials == 0:
            raise UsageError(
                f"--search {space_path}: expected --trials N, how many trials to sample (e.g. --trials 20), "
                "got no --trials"
            )
        if trials < 1:
            raise UsageError(f"--trials: expected at least 1 with --search, got {trials}")
        space = read_space(space_path)
        for values in _space_corners(space):
            point_config(base, values, str(space_path))
        keys = list(space)
        points: list[Point] = []
        kind = "search"
    else:
        if not grid:
            raise UsageError(
                "sweep: expected a grid (--set KEY=V1,V2,… with several values) or --search "
                "SPACE.yaml, got an empty grid"
            )
        space = None
        keys = list(grid)
        combos = [dict(zip(keys, vs, strict=True)) for vs in itertools.product(*grid.values())]
        points = [Point(point_name(v), v) for v in combos]
        for p in points:
            point_config(base, p.values, source)
        kind = "grid"
    with config_mod.in_source(source):
        tasks.of(cfg).load(cfg)  # data problems surface before anything is written
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("sweeps") / f"{config_path.stem}-{stamp}"
    runs.check_out_path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(
            f"{out}: already exists; choose another --out, or finish it: lstmcli sweep --resume {out}"
        )
    return Plan(
        kind=kind,
        out=out,
        base=base,
        source=source,
        objective=obj,
        keys=keys,
        points=points,
        requires=list(requires),
        space=space,
        trials=trials,
        seed=cfg.seed if seed is None else seed,
        storage=storage,
        study=(study or config_path.stem) if kind == "search" or storage or workers > 1 else None,
        workers=workers,
    )


def load_plan(sweep_dir: Path) -> Plan:
    """An interrupted sweep, read back from its sweep.json."""
    path = sweep_dir / SWEEP
    if not path.is_file():
        raise UsageError(f"{sweep_dir}: not a sweep folder (no {SWEEP} inside)")
    data = runs.read_json_file(path)
    try:
        return Plan(
            kind=data["kind"],
            out=sweep_dir,
            base=data["base"],
            source=data["config"],
            objective=Objective(**data["objective"]),
            keys=data["keys"],
            points=[Point(**p) for p in data["points"]],
            requires=data.get("requires", []),
            space=data.get("space"),
            trials=data["trials"],
            seed=data["seed"],
            storage=data.get("storage"),
            # a search sweep.json from before studies: its points seed a new study.db
            study=data.get("study") or (Path(data["config"]).stem if data["kind"] == "search" else None),
            workers=data.get("workers", 1),
        )
    except (KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a sweep.json this lstmcli wrote ({e})") from None


# ---------------------------------------------------------------- running


class _Listener:
    """A training listener that hears each epoch's row (for the pruner)."""

    def __init__(self, on_epoch: Callable[[int, dict[str, float]], None]) -> None:
        self.on_epoch = on_epoch

    def epoch_begin(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        pass

    def step(self, done: int, tokens_per_second: float, shown: dict[str, float]) -> None:
        pass

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        self.on_epoch(epoch, row)

    def close(self) -> None:
        pass


def _save(p: Plan) -> None:
    runs.write_json(p.out / SWEEP, p.to_json())


def _train_point(p: Plan, point: Point, cfg: Config, listeners: list[Any], progress: Any) -> None:
    """Train (or resume, or just read) one point's run directory; record its outcome."""
    from lstmcli.training import loop as training

    out = p.out / point.name
    try:
        if runs.is_run_dir(out) and (out / training.CHECKPOINT).is_file():
            state = training.State.read(out)
            if state.finished and state.epoch >= cfg.train.epochs:
                point.status, point.epochs = "finished", state.epoch
                point.metrics = runs.Run(out, cfg).metrics()
                return
            prep = training.prepare(cfg)
        else:
            prep = training.prepare(cfg)
            training.create_run_dir(prep, out, force=False)
        point.status = "interrupted"  # until it ends otherwise: what --resume looks for
        result = training.train(prep, out, progress=progress, listeners=listeners)
        point.status, point.metrics, point.epochs = "finished", result.metrics, result.epochs
    except Pruned:
        point.status = "pruned"  # its metrics are those of the epoch it was pruned at (on_epoch)
    except Interrupted:
        point.status = "interrupted"
        raise
    except LstmcliError as e:
        if isinstance(e, UsageError):
            raise
        point.status, point.error = "failed", e.message
    finally:
        if runs.lock_holder(out) == os.getpid():
            runs.claim(out).release()  # the point is done with: another process may resume it
        from lstmcli.model import backend

        backend.keras().backend.clear_session()


def run(p: Plan, progress_for: Callable[[Point], Any] | None = None) -> Plan:
    """Run (or finish) every point of a grid in this process, saving sweep.json after each.
    Sweeps with a study (searches, --storage, --workers) run through `sweep_workers.run`."""
    if p.uses_study:  # a programming error: the caller picks the runner
        raise RuntimeError("a sweep with a study runs through sweep_workers.run")
    p.out.mkdir(parents=True, exist_ok=True)
    runs.claim(p.out)  # one process per sweep folder
    _save(p)
    for point in p.points:
        if point.status in DONE:
            continue
        cfg = point_config(p.base, point.values, p.source)
        try:
            _train_point(p, point, cfg, [], progress_for(point) if progress_for else None)
        finally:
            _save(p)
    return p


def make_pruner(optuna: Any) -> Any:
    """Median pruning: after two finished trials, a trial whose objective at an epoch is worse
    than the median of the others at that epoch stops there."""
    return optuna.pruners.MedianPruner(n_startup_trials=2)


def distribution(optuna: Any, spec: dict[str, Any]) -> Any:
    if "choices" in spec:
        return optuna.distributions.CategoricalDistribution(spec["choices"])
    lo, hi, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if isinstance(lo, int) and isinstance(hi, int):
        return optuna.distributions.IntDistribution(lo, hi, log=log, step=int(spec.get("step", 1)))
    return optuna.distributions.FloatDistribution(float(lo), float(hi), log=log, step=spec.get("step"))


def frozen(optuna: Any, point: Point, dists: dict[str, Any], objective: Objective, out: Path) -> Any:
    """A finished or pruned point as an Optuna trial, so the sampler and pruner know it."""
    hist = runs.read_history(out / point.name)
    inter = {int(r["epoch"]): r[objective.metric] for r in hist if objective.metric in r}
    state = {
        "finished": optuna.trial.TrialState.COMPLETE,
        "pruned": optuna.trial.TrialState.PRUNED,
        "failed": optuna.trial.TrialState.FAIL,
    }[point.status]
    value = point.metrics.get(objective.metric) if point.status == "finished" else None
    return optuna.trial.create_trial(
        params=point.values,
        distributions=dists,
        value=value,
        state=state if value is not None or point.status != "finished" else optuna.trial.TrialState.FAIL,
        intermediate_values=inter,
    )
