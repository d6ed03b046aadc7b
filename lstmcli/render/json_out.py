"""Results → the JSON documents `--json` prints: every document is built here, and nowhere else.

Each builder returns its shape from `render.json_docs` (a TypedDict), so mypy checks every key
and type against the documented contract, and `tests/test_json_docs.py` validates each command's
real output against the same shapes. Core functions return results (dataclasses, dicts of
numbers); which of their fields a document shows, and under which key, is decided here.

Imported on `predict --json`'s path: the result types and the shapes are for mypy only, so this
module loads nothing at run time (no pydantic for the shapes, no core modules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lstmcli.render import RUN_KEYS, shape_of, to_list

if TYPE_CHECKING:
    from lstmcli.analysis.evaluation import Evaluation
    from lstmcli.analysis.explore import ExploreResult
    from lstmcli.analysis.inspection import InspectResult
    from lstmcli.analysis.predicting import PredictResult
    from lstmcli.analysis.units import UnitsResult
    from lstmcli.config import Config
    from lstmcli.experiments.export import ExportResult
    from lstmcli.experiments.requirements import Requirement
    from lstmcli.experiments.sweep import Plan, Point
    from lstmcli.experiments.sweep_storage import StudyReport
    from lstmcli.render.json_docs import (
        Classification,
        CompareDoc,
        ConfigShowDoc,
        EvaluateDoc,
        ExploreDoc,
        ExportDoc,
        InitDoc,
        InspectDoc,
        InspectVerify,
        LabelDoc,
        PredictDoc,
        ReferenceDoc,
        RunsDoc,
        SchemaDoc,
        SweepDoc,
        SweepPoint,
        SweepReportDoc,
        TrainDoc,
        UnitsDoc,
        ValidateDoc,
    )
    from lstmcli.render.json_docs import (
        Requirement as RequirementDoc,
    )
    from lstmcli.runs import Comparison, RunSummary
    from lstmcli.training.loop import TrainResult


# ---------------------------------------------------------------- train


def requirements_json(reqs: Sequence[Requirement], metrics: Mapping[str, float]) -> list[RequirementDoc]:
    """Each `--require` (train, evaluate): its metric's value (null when not measured), and
    whether it holds."""
    return [
        {
            "requirement": r.text,
            "metric": r.metric,
            "value": metrics.get(r.metric),
            "met": r.metric in metrics and r.holds(metrics[r.metric]),
        }
        for r in reqs
    ]


def classification_json(rep: Mapping[str, Any]) -> Classification:
    """`train --json`'s `classification` (task: classify): per-label metrics, confusion matrix."""
    return {
        "split": rep["split"],
        "examples": rep["examples"],
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "per_label": rep["per_label"],
        "confusion": {"labels": rep["labels"], "matrix": rep["matrix"]},
    }


def train_json(result: TrainResult, reqs: Sequence[Requirement]) -> TrainDoc:
    doc: TrainDoc = {
        "run_dir": str(result.run_dir),
        "metrics": result.metrics,
        "epochs": result.epochs,
        "wall_seconds": round(result.wall_seconds, 3),
        "requirements": requirements_json(reqs, result.metrics),
    }
    if result.report:
        doc["classification"] = classification_json(result.report)
    return doc


# ---------------------------------------------------------------- inspect, predict


def _verify(v: Mapping[str, Any]) -> InspectVerify:
    return {
        "max_abs_diff": v["max_abs_diff"],
        "max_scaled_diff": v["max_scaled_diff"],
        "tolerance": v["tolerance"],
        "ok": v["ok"],
        "compared": v["compared"],
    }


def inspect_json(r: InspectResult) -> InspectDoc:
    doc: InspectDoc = {
        "target": r.target,
        "source": r.source,
        "engine": r.engine,
        "cell": r.cell,
        "layer": r.layer,
        "num_layers": r.num_layers,
        "return_sequences": r.return_sequences,
        "vocab": list(r.vocab),
        "inputs": r.inputs,
        "x": to_list(r.x),
        "outputs": to_list(r.states.outputs),
        "hidden_state": to_list(r.states.hidden),
        "cell_state": to_list(r.states.cell),
        "shapes": {
            "x": shape_of(r.x),
            "outputs": shape_of(r.states.outputs),
            "hidden_state": shape_of(r.states.hidden),
            "cell_state": shape_of(r.states.cell),
        },
    }
    if r.steps is not None:
        doc["steps"] = r.steps  # per sequence, per timestep: {token, then each gate and state}
    if r.verify is not None:
        doc["verify"] = _verify(r.verify)
    return doc


def predict_json(r: PredictResult) -> PredictDoc:
    return {
        "run_dir": r.run_dir,
        "engine": r.engine,
        "temperature": r.temperature,
        "seed": r.seed,
        "steps": r.steps,
        "results": [
            {
                "input": item.text,
                "tokens": item.tokens,
                "next": [{"token": t, "probability": p} for t, p in item.top],
                "generated": item.generated,
                "generated_tokens": item.generated_tokens,
            }
            for item in r.items
        ],
    }


def label_json(r: Any) -> LabelDoc:
    """`predict --json` on a classifier (`tasks.classify.LabelResult`): each text's labels."""
    return {
        "run_dir": r.run_dir,
        "engine": r.engine,
        "results": [
            {
                "input": item.text,
                "tokens": item.tokens,
                "label": item.labels[0][0],
                "labels": [{"label": name, "probability": p} for name, p in item.labels],
            }
            for item in r.items
        ],
    }


# ---------------------------------------------------------------- explore, units


def explore_json(result: ExploreResult, out: Path, size: int) -> ExploreDoc:
    """What was written, and how far the page's values may be off."""
    return {
        "page": str(out),
        "bytes": size,
        "run": result.run,
        "source": result.source,
        "task": result.task,
        "cell": result.cell,
        "layer": result.layer,
        "num_layers": result.num_layers,
        "units": result.units,
        "tokens": result.tokens,
        "arrays": list(result.arrays),
        "quantisation": {
            "bits": 8,
            "per": "unit",
            "max_abs_error": result.max_error,
        },
    }


def units_json(r: UnitsResult, top: int) -> UnitsDoc:
    """The top `top` (unit, state) pairs for one feature (docs/cli.md, `units`)."""
    f = r.feature
    doc: UnitsDoc = {
        "run_dir": r.run_dir,
        "text": r.source,
        "cell": r.cell,
        "layer": r.layer,
        "feature": {
            "kind": f.kind,
            "regex": f.regex,
            "open": f.open,
            "close": f.close,
            "type": "yes/no" if f.binary else "numeric",
            "description": f.describe(),
        },
        "metric": f.metric,
        "steps": {"start": r.steps[0], "stop": r.steps[1]},
        "sequences": r.sequences,
        "tokens": r.tokens,
        "positives": r.positives,
        "units": [
            {"rank": n + 1, "unit": s.unit, "state": s.state, "score": round(s.score, 6), "metric": s.metric}
            for n, s in enumerate(r.ranked[:top])
        ],
    }
    if r.labels is not None:
        doc["feature"]["labels"] = r.labels
    return doc


# ---------------------------------------------------------------- runs, compare


def runs_json(found: Sequence[RunSummary]) -> RunsDoc:
    return {
        "runs": [
            {
                "name": r.name,
                "path": str(r.path),
                "started": r.started,
                "config": {k: r.config.get(k) for k in RUN_KEYS},
                "metrics": r.metrics,
                "running": r.running,  # another process holds the run's lock: training now
                "pid": r.running_pid,
            }
            for r in found
        ]
    }


def compare_json(c: Comparison) -> CompareDoc:
    return {
        "a": str(c.a),
        "b": str(c.b),
        "config": [{"key": k.key, "a": k.a, "b": k.b, "differs": k.differs} for k in c.config],
        "metrics": [{"name": m.name, "a": m.a, "b": m.b, "delta": m.delta} for m in c.metrics],
    }


# ---------------------------------------------------------------- evaluate, sweep, export


def evaluate_json(e: Evaluation, reqs: Sequence[Requirement]) -> EvaluateDoc:
    return {
        "run_dir": str(e.run_dir),
        "data": e.data,
        "windows": e.windows,
        "tokens": e.tokens,
        "eval_stride": e.eval_stride,
        "seconds": e.seconds,
        "metrics": e.metrics,
        "requirements": requirements_json(reqs, e.metrics),
    }


def _point(p: Point) -> SweepPoint:
    return {
        "name": p.name,
        "values": p.values,
        "status": p.status,
        "metrics": p.metrics,
        "epochs": p.epochs,
        "trial": p.trial,
        "error": p.error,
        "host": p.host,
        "run_dir": p.run_dir,
        "attempts": p.attempts,
    }


def sweep_json(plan: Plan) -> SweepDoc:
    """sweep.json (`Plan.to_json`, the sweep folder's own file) without its `base` config: what
    `sweep --json` prints and the terminal progress reads. Taken from the file's own builder so
    the two cannot drift; test_json_docs validates the shape."""
    doc = plan.to_json()
    del doc["base"]
    return cast("SweepDoc", doc)


def sweep_report_json(r: StudyReport) -> SweepReportDoc:
    """`sweep --storage URL --report`: a study's points and best one, as its meta data says."""
    m = r.meta
    return {
        "kind": m["kind"],
        "dir": r.url,
        "storage": r.url,
        "study": r.study,
        "config": m["config"],
        "objective": {"metric": m["objective"]["metric"], "mode": m["objective"]["mode"]},
        "keys": m["keys"],
        "space": m["space"],
        "trials": m["trials"],
        "seed": m["seed"],
        "requires": m.get("requires", []),
        "counts": r.counts,
        "points": [_point(p) for p in r.points],
        "best": _point(r.best) if r.best is not None else None,
    }


def export_json(r: ExportResult) -> ExportDoc:
    v = r.verify
    return {
        "run_dir": str(r.run_dir),
        "format": r.format,
        "out": str(r.out),
        "bytes": r.bytes,
        "variable_length": r.variable_length,
        "verify": None
        if v is None
        else {
            "runtime": v.runtime,
            "sequences": v.sequences,
            "lengths": v.lengths,
            "max_abs_diff": v.max_abs_diff,
            "tolerance": v.tolerance,
            "ok": v.ok,
        },
    }


# ---------------------------------------------------------------- config


def config_show_json(cfg: Config) -> ConfigShowDoc:
    """The resolved config: `Config.to_dict`, the very dict config.yaml is written from (its
    sections are the schema's, which json_docs cannot spell out key by key)."""
    return cast("ConfigShowDoc", cfg.to_dict())


def validate_json(checked: Sequence[tuple[str, bool, list[str]]]) -> ValidateDoc:
    """`config validate`: each config, whether it is valid, and its errors."""
    return {
        "valid": all(valid for _, valid, _ in checked),
        "configs": [{"config": path, "valid": valid, "errors": errors} for path, valid, errors in checked],
    }


def reference_json(rows: list[dict[str, Any]]) -> ReferenceDoc:
    return {
        "keys": [
            {
                "key": r["key"],
                "required": r["required"],
                "default": r["default"],
                "description": r["description"],
            }
            for r in rows
        ]
    }


def init_json(path: Path | None, text: str) -> InitDoc:
    return {"path": None if path is None else str(path), "config": text}


def schema_json(schema: dict[str, Any]) -> SchemaDoc:
    """`config schema`: pydantic's JSON Schema of the config, as pydantic writes it."""
    return cast("SchemaDoc", schema)
