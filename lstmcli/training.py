"""Train a model from a config: the fit loop, checkpoints, resume, signals, the run directory."""

from __future__ import annotations

import math
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lstmcli import __version__, backend, runs
from lstmcli.config import Config, dump_yaml
from lstmcli.data import Windows, load_windows
from lstmcli.errors import Interrupted, LstmcliError, UsageError

CHECKPOINT = "checkpoint.json"


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    epochs: int = 0
    wall_seconds: float = 0.0


@dataclass
class Prepared:
    """Everything checked and loaded before a run directory is touched."""

    cfg: Config  # vocab: auto resolved to its token list, as config.yaml records it
    windows: Windows
    strategy: Any = None  # a tf.distribute strategy, or None for one device

    def scope(self) -> Any:
        """Model, optimizer and metrics are created inside the strategy's scope."""
        import contextlib

        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def prepare(cfg: Config) -> Prepared:
    """Read and check the data and the distribution setup first: bad input fails before
    anything is written or trained."""
    cfg, windows = load_windows(cfg)
    strategy = None
    if cfg.train.distribute != "none":
        backend.configure_devices(cfg)  # before any TensorFlow op
        strategy = backend.make_strategy(cfg)
    return Prepared(cfg, windows, strategy)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---------------------------------------------------------------- data pipeline


@dataclass
class Pipeline:
    steps: int  # steps of one epoch
    val_steps: int | None
    tokens_per_epoch: int
    _make_train: Any
    val: Any

    def train(self, skip_steps: int = 0) -> Any:
        """The training batches, `skip_steps` batches in: the seeded shuffle order of every epoch
        is a fixed sequence, so a resumed run sees exactly the batches an unbroken run would.

        A new dataset each call: a second iterator over the *same* dataset object would draw
        other shuffle orders (its seed generator has moved on).
        """
        return self._make_train(skip_steps)


def _pipeline(cfg: Config, windows: Windows) -> Pipeline:
    """Ids stay ids in memory; windows are gathered and one-hot encoded per batch in the input
    pipeline (lstmcli.pipeline).

    The dataset repeats forever and fit() is told the steps of an epoch: Keras then keeps one
    iterator for the whole run instead of building one per epoch (measured on hello, 300
    one-step epochs: 13.6 s → 2.8 s).
    """
    from lstmcli.pipeline import Datasets

    d = Datasets(cfg, windows)
    return Pipeline(
        steps=d.steps,
        val_steps=d.val_steps,
        tokens_per_epoch=d.tokens_per_epoch,
        _make_train=d.train,
        val=d.val,
    )


# ---------------------------------------------------------------- checkpoint state


@dataclass
class State:
    """What a checkpoint records beside model.keras (which holds weights and optimizer state)."""

    epoch: int = 0  # complete epochs
    step: int = 0  # batches done in the next epoch (an interrupted epoch)
    history: list[dict[str, float]] = field(default_factory=list)  # kept in history.csv
    best_val_loss: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    finished: bool = False
    started: str = ""
    wall_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        # The history lives in history.csv (written with each checkpoint), not here: rewriting
        # a growing JSON list every epoch would make long runs quadratic.
        return {k: v for k, v in self.__dict__.items() if k != "history"}

    @classmethod
    def read(cls, run_dir: Path) -> State:
        data = runs.read_json_file(run_dir / CHECKPOINT)
        if not data:
            raise UsageError(f"{run_dir}: no {CHECKPOINT}: not a run lstmcli can resume")
        try:
            state = cls(**data)
        except TypeError:
            raise UsageError(f"{run_dir / CHECKPOINT}: not a checkpoint this lstmcli wrote") from None
        rows = runs.read_history(run_dir)
        state.history = [r for r in rows if r.get("epoch", 0) <= state.epoch]
        return state


def _save_checkpoint(model: Any, run_dir: Path, state: State) -> None:
    # Order matters for a crash at any moment: the model first, then the state that points at it.
    # A state one epoch behind its model only repeats an epoch on resume; never the reverse.
    runs.write_with(run_dir / runs.MODEL, lambda p: model.save(p), suffix=".keras")
    runs.write_history(run_dir / runs.HISTORY, state.history)
    runs.write_json(run_dir / CHECKPOINT, state.to_dict())


def create_run_dir(prep: Prepared, out: Path, force: bool) -> None:
    """Make `out` hold config.yaml, an untrained model.keras and checkpoint.json, all at once.

    Built in a temporary sibling folder and renamed into place, so from the moment the run
    directory exists it holds a loadable model and can be resumed. The run's lock is taken
    first and kept (`runs.claim`): "is it free?" and the rename happen under it, so two
    processes can never both create, or replace, the same run directory.
    """
    runs.make_run_dir(out, force, lambda tmp: _init_run_dir(prep, tmp))


def _init_run_dir(prep: Prepared, tmp: Path) -> None:
    cfg = prep.cfg
    runs.write_text(tmp / runs.CONFIG, dump_yaml(cfg))
    backend.set_seed(cfg.seed)
    with prep.scope():
        model = backend.build_model(cfg)
        backend.compile_model(model, cfg)
        model.optimizer.build(model.trainable_variables)  # so model.keras carries its slots
    state = State(started=datetime.now(UTC).isoformat(timespec="seconds"))
    _save_checkpoint(model, tmp, state)


# ---------------------------------------------------------------- the loop


class _Signals:
    """SIGINT/SIGTERM ask training to stop after the current batch (then a checkpoint is saved);
    a second signal interrupts at once."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _callback(model: Any, run_dir: Path, state: State, cfg: Config, pipe: Pipeline, sig: _Signals) -> Any:
    k = backend.keras()
    every = cfg.train.checkpoint_every
    patience = cfg.train.early_stopping.patience

    class Checkpointer(k.callbacks.Callback):  # type: ignore[misc,name-defined]
        """Per-epoch bookkeeping: history row, early stopping, atomic checkpoint, signals, NaN."""

        def __init__(self) -> None:
            super().__init__()
            self.nan_at: tuple[int, int] | None = None
            self.interrupted = False
            self._t = 0.0
            self._first_step = state.step

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._t = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.nan_at = (state.epoch + 1, batch + 1)
                self.model.stop_training = True
            elif sig.received is not None:
                # Record the batches done in this epoch: resume skips exactly those.
                state.step = self._first_step + batch + 1
                self.interrupted = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if self.nan_at is not None:
                return  # never checkpoint a model whose loss went NaN: keep the last good one
            if self.interrupted and state.step < pipe.steps:
                _save_checkpoint(self.model, run_dir, state)  # mid-epoch: resume skips state.step
                return
            dt = time.perf_counter() - self._t
            done_steps = pipe.steps - self._first_step
            row: dict[str, float] = {"epoch": epoch + 1}
            row.update({name: float(v) for name, v in (logs or {}).items()})
            row["seconds"] = round(dt, 6)
            row["tokens_per_second"] = (
                round(pipe.tokens_per_epoch * done_steps / pipe.steps / dt, 1) if dt > 0 else 0.0
            )
            self._first_step = 0
            state.history.append(row)
            state.epoch = epoch + 1
            state.step = 0
            save = state.epoch % every == 0 or state.epoch == cfg.train.epochs or self.interrupted
            if patience and "val_loss" in row:
                if state.best_val_loss is None or row["val_loss"] < state.best_val_loss:
                    state.best_val_loss, state.best_epoch, state.wait = row["val_loss"], state.epoch, 0
                    # The best model so far, kept for the end of training.
                    runs.write_with(run_dir / BEST, lambda p: self.model.save(p), suffix=".keras")
                else:
                    state.wait += 1
                    if state.wait >= patience:
                        self.model.stop_training = True
                        save = True
            if save:
                _save_checkpoint(self.model, run_dir, state)

    return Checkpointer()


BEST = "best.keras"


def train(prep: Prepared, run_dir: Path, *, progress: Any = None, resume: bool = False) -> TrainResult:
    """Fit the model the config describes into `run_dir` (made by `create_run_dir`), from its
    last checkpoint. `progress` is a Keras callback reporting epochs; nothing here prints."""
    runs.claim(run_dir)  # one owner per run directory (a no-op when create_run_dir took it)
    t0 = time.perf_counter()
    cfg = prep.cfg
    state = State.read(run_dir)
    if state.finished:
        raise UsageError(f"{run_dir}: training is already complete ({state.epoch} epochs)")
    backend.keras()
    # Seeds again on resume too: the data order comes from the skip below, not from RNG state.
    backend.set_seed(cfg.seed)
    pipe = _pipeline(cfg, prep.windows)
    try:
        with prep.scope():
            model = backend.load_model_for_training(run_dir / runs.MODEL)
    except Exception as e:
        raise LstmcliError(f"{run_dir / runs.MODEL}: cannot resume from it: {e}") from None

    with _Signals() as sig:
        cb = _callback(model, run_dir, state, cfg, pipe, sig)
        callbacks = [cb] + ([progress] if progress is not None else [])
        if state.step:
            # Finish the interrupted epoch first (its remaining batches), then the rest.
            model.fit(
                pipe.train(state.epoch * pipe.steps + state.step),
                epochs=state.epoch + 1,
                initial_epoch=state.epoch,
                steps_per_epoch=pipe.steps - state.step,
                validation_data=pipe.val,
                validation_steps=pipe.val_steps,
                shuffle=False,
                callbacks=callbacks,
                verbose=0,
            )
        if not (cb.nan_at or cb.interrupted or model.stop_training) and state.epoch < cfg.train.epochs:
            model.fit(
                pipe.train(state.epoch * pipe.steps),
                epochs=cfg.train.epochs,
                initial_epoch=state.epoch,
                steps_per_epoch=pipe.steps,
                validation_data=pipe.val,
                validation_steps=pipe.val_steps,
                shuffle=False,  # the dataset shuffles itself, by seed
                callbacks=callbacks,
                verbose=0,
            )
    state.wall_seconds = round(state.wall_seconds + time.perf_counter() - t0, 3)
    if cb.nan_at is not None:
        epoch, step = cb.nan_at
        raise LstmcliError(
            f"training stopped: the loss became NaN or infinite at epoch {epoch}, step {step}; "
            f"{run_dir} keeps the last good checkpoint (epoch {state.epoch}). "
            "Lower train.learning_rate and resume or retrain."
        )
    if cb.interrupted:
        name = signal.Signals(sig.received).name if sig.received else "a signal"
        raise Interrupted(
            f"stopped by {name} at epoch {state.epoch + (1 if state.step else 0)}; checkpoint saved. "
            f"Resume with: lstmcli train --resume {run_dir}"
        )
    return _finish(model, run_dir, state, prep)


def _finish(model: Any, run_dir: Path, state: State, prep: Prepared) -> TrainResult:
    import numpy as np
    import tensorflow as tf

    k = backend.keras()
    cfg = prep.cfg
    best = run_dir / BEST
    pick = state.history[-1] if state.history else {}
    if cfg.train.early_stopping.patience and state.best_epoch is not None and best.exists():
        # Early stopping keeps the best model, and reports the metrics of the model it keeps.
        os.replace(best, run_dir / runs.MODEL)
        pick = state.history[state.best_epoch - 1]
    else:
        runs.write_with(run_dir / runs.MODEL, lambda p: model.save(p), suffix=".keras")
    metrics = {name: pick[name] for name in ("loss", "accuracy", "val_loss", "val_accuracy") if name in pick}
    runs.write_history(run_dir / runs.HISTORY, state.history)
    runs.write_json(run_dir / runs.METRICS, metrics)
    last = state.history[-1] if state.history else {}
    runs.write_json(
        run_dir / runs.RUN,
        {
            "lstmcli": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "tensorflow": tf.__version__,
            "keras": k.__version__,
            "seed": cfg.seed,
            "started": state.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_seconds": state.wall_seconds,
            "epochs": state.epoch,
            "best_epoch": state.best_epoch,
            "stopped_early": state.epoch < cfg.train.epochs,
            "config_sha256": cfg.digest(),
            "distribute": cfg.train.distribute,
            "replicas": prep.strategy.num_replicas_in_sync if prep.strategy is not None else 1,
            "devices": list(prep.strategy.extended.worker_devices) if prep.strategy is not None else None,
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "train_tokens_per_second": last.get("tokens_per_second"),
        },
    )
    state.finished = True
    runs.write_json(run_dir / CHECKPOINT, state.to_dict())
    return TrainResult(run_dir, metrics, state.history, state.epoch, state.wall_seconds)


def progress_callback(epochs: int, console: Any) -> Any:
    """A Keras callback drawing a rich progress bar (epoch, loss, accuracy) on `console`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    k = backend.keras()

    class RichProgress(k.callbacks.Callback):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.bar = Progress(
                TextColumn("epoch"),
                MofNCompleteColumn(),
                BarColumn(),
                TextColumn("{task.fields[metrics]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.task = self.bar.add_task("train", total=epochs, metrics="")

        def on_train_begin(self, logs: Any = None) -> None:
            self.bar.start()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            shown = " ".join(
                f"{k_}={v:.4f}"
                for k_, v in (logs or {}).items()
                if k_ in ("loss", "accuracy", "val_loss", "val_accuracy")
            )
            self.bar.update(self.task, completed=epoch + 1, metrics=shown)

        def on_train_end(self, logs: Any = None) -> None:
            self.bar.stop()

    return RichProgress()
