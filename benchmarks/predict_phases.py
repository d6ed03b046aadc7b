"""Where `lstmcli predict RUN hell --json` spends its start-up: CPU time per import and per phase.

CPU time (`time.process_time`) of one process is far less sensitive to other processes than wall
time, so the table means something on a loaded machine; each repeat is a fresh interpreter. The
imports are taken in dependency order, so each row is what that module adds to the ones above it.

    python benchmarks/predict_phases.py --run RUN_DIR [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

IMPORTS = (
    "numpy",
    "pydantic.main",
    "typer",
    "typer._adapters",
    "yaml",
    "importlib.metadata",
    "lstmcli.cli",
    "lstmcli.config",
    "lstmcli.runs",
    "lstmcli.data",
    "lstmcli.model.engine",
    "lstmcli.analysis.inspection",
    "lstmcli.analysis.predicting",
    "lstmcli.render",
    "lstmcli.model.kerasfile",
)

# Runs in a fresh interpreter: imports in order, then the predict command with its phases timed.
CHILD = """
import contextlib, importlib, io, json, sys, time
rows = []
clock = time.process_time
last = clock()
def mark(name):
    global last
    now = clock()
    rows.append((name, 1000 * (now - last)))
    last = now
for m in IMPORTS:
    importlib.import_module(m)
    mark("import " + m)
from lstmcli import runs
from lstmcli.analysis import inspection, predicting
from lstmcli.cli import main
def timed(mod, name):
    fn = getattr(mod, name)
    def wrapper(*a, **k):
        mark("(argument parsing, typer)" if name == "open_run" else "(between)")
        out = fn(*a, **k)
        mark(name)
        return out
    setattr(mod, name, wrapper)
for mod, name in ((runs, "open_run"), (inspection, "make_engine"), (predicting, "predict")):
    timed(mod, name)
sys.argv = ["lstmcli", "predict", RUN, "hell", "--json"]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit:
        pass
mark("output and exit")
print(json.dumps({"rows": rows, "modules": len(sys.modules)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", type=Path, required=True, help="a trained run directory (e.g. hello)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    code = f"IMPORTS = {IMPORTS!r}\nRUN = {str(args.run)!r}\n" + CHILD
    per: dict[str, list[float]] = {}
    modules = set()
    for _ in range(args.repeats):
        # As the console script runs: `predict` tells OpenBLAS to start no threads before NumPy
        # loads (`cli.options.blas_on_one_thread`), which this child's first row would miss.
        env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
        cmd = [sys.executable, "-c", code]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        doc = json.loads(done.stdout.strip().splitlines()[-1])
        modules.add(doc["modules"])
        for name, ms in doc["rows"]:
            per.setdefault(name, []).append(ms)
    total = sum(statistics.median(v) for v in per.values())
    load = os.getloadavg()[0]
    print(f"{'phase':<42} {'CPU ms':>7} {'share':>6}   (medians of {args.repeats}; load {load:.1f})")
    for name, v in per.items():
        m = statistics.median(v)
        if m >= 0.5:
            print(f"{name:<42} {m:>7.1f} {100 * m / total:>5.1f}%")
    print(f"{'total (after the interpreter starts)':<42} {total:>7.1f}   modules loaded: {sorted(modules)}")


if __name__ == "__main__":
    main()
