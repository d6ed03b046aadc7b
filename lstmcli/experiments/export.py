"""Export a run's model for other runtimes through Keras's `Model.export` (TensorFlow
SavedModel, ONNX through tf2onnx, TFLite/LiteRT), and verify the artifact in its own runtime
against the NumPy engine's probabilities."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import runs
from lstmcli.errors import UsageError

FORMATS = {"saved_model": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}
TOLERANCE = 1e-5
NEEDS_EXTRA = "pip install 'lstmcli[export]'"


@dataclass
class ExportCheck:
    """`--verify`: the artifact in its own runtime against the NumPy engine, on the run's sequences."""

    runtime: str
    sequences: int
    lengths: list[int]  # the sequence lengths run (and shorter prefixes, where any length goes)
    max_abs_diff: float
    tolerance: float
    ok: bool


@dataclass
class ExportResult:
    run_dir: Path
    format: str
    out: Path
    bytes: int
    variable_length: bool  # the artifact takes any sequence length
    verify: ExportCheck | None


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "onnx":
        import importlib.util

        missing = [m for m in ("tf2onnx", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise UsageError(f"--format onnx needs {', '.join(missing)}: {NEEDS_EXTRA}")
    return FORMATS[fmt]


def check_out(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise UsageError(f"{out}: already exists; choose another --out or pass --force to replace it")
    if out.exists() and out.is_dir() and not (out / "saved_model.pb").is_file():
        raise UsageError(f"{out}: --force replaces an exported model only, and this folder is not one")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{parent}: no such folder (for --out {out})")


def export(run_dir: Path, fmt: str, out: Path, *, verify: bool, force: bool = False) -> ExportResult:
    """Write the run's model as `fmt` to `out` (atomically: built beside it, then renamed)."""
    from lstmcli.model import backend, engine, kerasfile

    keras_format = check_format(fmt)
    run = runs.open_run(run_dir)
    check_out(out, force)
    spec = kerasfile.load_spec(run.model_path)
    engine.check_spec(run.config, spec, run.model_path)
    model = backend.load_model(run.model_path)
    model(np.zeros((1, 2, spec.input_dim), np.float32))  # a loaded model exports once it has run
    suffix = {"saved_model": "", "onnx": ".onnx", "tflite": ".tflite"}[fmt]  # Keras checks them
    tmp = out.with_name(f".{out.name}.export-tmp{suffix}")
    _remove(tmp)
    kwargs: dict[str, Any] = {}
    if fmt == "tflite":
        # TFLite's builtin ops run a recurrent layer over a fixed number of steps; a variable
        # length needs TensorFlow's TensorList ops (the Flex delegate), which the interpreter
        # shipped with TensorFlow 2.21 does not link: one sequence of sequence_length steps.
        import tensorflow as tf

        kwargs["input_signature"] = [
            tf.TensorSpec((1, run.config.sequence_length, spec.input_dim), tf.float32)
        ]
    try:
        import warnings

        with backend.filtered_stderr(), warnings.catch_warnings():  # tf2onnx and TFLite log on fd 2
            warnings.simplefilter("ignore")
            model.export(str(tmp), format=keras_format, verbose=False, **kwargs)
        if out.exists():
            _remove(out)
        os.replace(tmp, out)
    finally:
        _remove(tmp)
    size = _size(out)
    runtime = _runtime(fmt, out)
    return ExportResult(
        run_dir=run_dir,
        format=fmt,
        out=out,
        bytes=size,
        variable_length=runtime.variable_length,
        verify=check(run.config, spec, runtime) if verify else None,
    )


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


def _size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def check(cfg: Any, spec: Any, runtime: Any) -> ExportCheck:
    """Run the artifact on the run's own sequences; compare every probability with NumPy's."""
    from lstmcli import tasks
    from lstmcli.data import vocab_of
    from lstmcli.model.cell import forward

    vocab = vocab_of(cfg)
    seqs = tasks.of(cfg).sequences(cfg)
    if runtime.variable_length:  # and shorter prefixes, where the format takes any length
        seqs = seqs + [s[: max(1, len(s) // 2)] for s in seqs]
    worst = 0.0
    groups: dict[int, list[np.ndarray]] = {}
    for s in seqs:
        groups.setdefault(len(s), []).append(s)
    for group in groups.values():
        x = vocab.one_hot(np.stack(group)).astype(np.float32)
        _, want = forward(spec.stack(), x)
        got = runtime(x)
        worst = max(worst, float(np.max(np.abs(np.asarray(got, np.float64) - want))))
    return ExportCheck(
        runtime=runtime.name,
        sequences=len(seqs),
        lengths=sorted(groups),
        max_abs_diff=worst,
        tolerance=TOLERANCE,
        ok=worst <= TOLERANCE,
    )


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    """The TFLite runtime logs to file descriptor 2 from C++; its failures still raise."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _runtime(fmt: str, path: Path) -> Any:
    return {"saved_model": _SavedModel, "onnx": _Onnx, "tflite": _TFLite}[fmt](path)


class _SavedModel:
    name = "tensorflow (tf.saved_model.load)"

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self.loaded = tf.saved_model.load(str(path))  # kept: its variables live as long as it does
        self.fn = self.loaded.serve
        shape = self.fn.concrete_functions[0].structured_input_signature[0][0].shape
        self.variable_length = shape[1] is None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(x))


class _Onnx:
    name = "onnxruntime"

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise UsageError(f"--verify of an ONNX model needs onnxruntime: {NEEDS_EXTRA}") from None
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input = inp.name
        self.variable_length = not isinstance(inp.shape[1], int)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input: x})[0])


class _TFLite:
    name = "TFLite interpreter (tf.lite)"

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self.path = path
        self.tf = tf
        probe = self._interpreter()
        self.shape = tuple(int(d) for d in probe.get_input_details()[0]["shape"])
        self.variable_length = False  # see `export`: (1, sequence_length, vocab)

    def _interpreter(self) -> Any:
        import warnings

        with warnings.catch_warnings(), _quiet_fd2():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            return self.tf.lite.Interpreter(model_path=str(self.path))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        it = self._interpreter()
        with _quiet_fd2():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            it.allocate_tensors()
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        rows = []
        for seq in x:  # one sequence at a time: the model's batch is 1
            it.set_tensor(inp["index"], seq[None])
            it.invoke()
            rows.append(np.asarray(it.get_tensor(out["index"]))[0])
        return np.stack(rows)
