"""Train a model from a config: the fit loop, checkpoints, resume, signals, the run directory."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lstmcli import __version__, runs, tasks
from lstmcli.config import Config, dump_yaml
from lstmcli.data import Windows
from lstmcli.errors import Interrupted, LstmcliError, RunDirError, UsageError
from lstmcli.model import backend
from lstmcli.model.choose import Choice
from lstmcli.training import distribute

CHECKPOINT = runs.CHECKPOINT


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    epochs: int = 0
    wall_seconds: float = 0.0
    report: dict[str, Any] | None = None  # the task's report (classify: per-label metrics, confusion matrix)


@dataclass
class Prepared:
    """Everything checked and loaded before a run directory is touched."""

    cfg: Config  # vocab: auto resolved to its token list, as config.yaml records it
    windows: tasks.TaskData  # the task's data: lstmcli.data.Windows, or lstmcli.tasks.classify.Examples
    strategy: Any = None  # a tf.distribute strategy, or None for one device

    def scope(self) -> Any:
        """Model, optimizer and metrics are created inside the strategy's scope."""
        import contextlib

        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def prepare(cfg: Config) -> Prepared:
    """Read and check the data and the distribution setup first: bad input fails before
    anything is written or trained."""
    cfg, windows = tasks.of(cfg).load(cfg)
    if cfg.train.tensorboard:
        from lstmcli.training import tensorboard_log

        tensorboard_log.require()
    strategy = None
    if cfg.train.distribute != "none":
        distribute.configure_devices(cfg)  # before any TensorFlow op
        strategy = distribute.make_strategy(cfg)
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
    short_every: int = 0  # batch j of the stream (from the run's start) is short when j % this is this - 1

    def full_batches(self, at: int) -> int:
        """How many full batches the stream holds from batch `at` on (0: batch `at` is short)."""
        if not self.short_every:
            return 1 << 30
        return self.short_every - 1 - at % self.short_every

    def train(self, skip_steps: int = 0) -> Any:
        """The training batches, `skip_steps` batches in: the seeded shuffle order of every epoch
        is a fixed sequence, so a resumed run sees exactly the batches an unbroken run would.

        A new dataset each call: a second iterator over the *same* dataset object would draw
        other shuffle orders (its seed generator has moved on).
        """
        return self._make_train(skip_steps)


def _pipeline(cfg: Config, windows: tasks.TaskData) -> Pipeline:
    """Ids stay ids in memory; windows are gathered and one-hot encoded per batch in the input
    pipeline (lstmcli.training.pipeline).

    The dataset repeats forever and the loop keeps one iterator for the whole run instead of
    building one per epoch (measured on hello under fit, 300 one-step epochs: 13.6 s → 2.8 s).
    """
    from lstmcli.training import pipeline

    d = pipeline.for_task(cfg, windows)  # windows: token ids, the step one-hot encodes (or gathers)
    return Pipeline(
        steps=d.steps,
        val_steps=d.val_steps,
        tokens_per_epoch=d.tokens_per_epoch,
        _make_train=d.train,
        val=d.val,
        short_every=d.short_every,
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
    partial: dict[str, float] | None = None  # the running sums of an interrupted epoch
    choice: dict[str, Any] | None = None  # the path auto chose at the start (model.choose.Choice)

    def to_dict(self) -> dict[str, Any]:
        # The history lives in history.csv (written with each checkpoint), not here: rewriting
        # a growing JSON list every epoch would make long runs quadratic.
        return {k: v for k, v in self.__dict__.items() if k != "history"}

    @classmethod
    def read(cls, run_dir: Path) -> State:
        data = runs.RunDir(run_dir).read_state()
        if not data:
            raise UsageError(f"{run_dir}: no {CHECKPOINT}: not a run lstmcli can resume")
        try:
            state = cls(**data)
        except TypeError:
            raise UsageError(f"{run_dir / CHECKPOINT}: not a checkpoint this lstmcli wrote") from None
        rows = runs.read_history(run_dir)
        for r in rows:
            r["epoch"] = int(r["epoch"])  # an int column, also after a resume (not 1.0 beside 3)
        state.history = [r for r in rows if r["epoch"] <= state.epoch]
        return state


def _save_checkpoint(model: Any, run_dir: Path, state: State) -> None:
    runs.RunDir(run_dir).checkpoint(backend.saver(model), state.history, state.to_dict())


def resume_config(run_dir: Path, sets: list[str]) -> Config:
    """The run's own config, with `--set` overrides of the keys a resume may change (train.epochs
    to extend a finished run, …); any other key would change the model or the data: exit 2."""
    from lstmcli import config as config_mod

    run = runs.open_run(run_dir)
    if not sets:
        return run.config
    for item in sets:
        key = ".".join(config_mod.parse_set(item)[0])
        if key not in RESUMABLE_KEYS:
            raise UsageError(
                f"--set {item}: expected one of {', '.join(RESUMABLE_KEYS)} on --resume (keys that "
                f"change neither the model nor the data), got {key}"
            )
    cfg = config_mod.load(run_dir / runs.CONFIG, sets)
    if cfg.train.learning_rate != run.config.train.learning_rate and cfg.train.lr_schedule != "constant":
        raise UsageError(
            f"--set train.learning_rate: {run_dir} follows train.lr_schedule "
            f"({run.config.train.lr_schedule}), saved with its optimizer: its rate cannot change on --resume"
        )
    if cfg.train.distribute != "multi_worker" or distribute.is_chief():
        runs.RunDir(run_dir).write_config(dump_yaml(cfg))
    return cfg


def create_run_dir(prep: Prepared, out: Path, force: bool) -> None:
    """Make `out` hold config.yaml, an untrained model.keras and checkpoint.json, all at once.

    Built in a temporary sibling folder and renamed into place, so from the moment the run
    directory exists it holds a loadable model and can be resumed. The run's lock is taken
    first and kept (`runs.claim`): "is it free?" and the rename happen under it, so two
    processes can never both create, or replace, the same run directory.
    """
    runs.make_run_dir(out, force, lambda tmp: _init_run_dir(prep, tmp))


def steps_per_epoch(cfg: Config, windows: tasks.TaskData) -> int:
    """Steps of one epoch, as lstmcli.training.pipeline.Datasets counts them (before TensorFlow starts)."""
    full = -(-windows.size("train") // cfg.train.batch_size)
    return min(cfg.train.steps_per_epoch, full) if cfg.train.steps_per_epoch else full


def _init_run_dir(prep: Prepared, tmp: Path) -> None:
    cfg = prep.cfg
    runs.RunDir(tmp).write_config(dump_yaml(cfg))
    backend.set_seed(cfg.seed)
    with prep.scope():
        model = backend.build_model(cfg)
        backend.compile_model(model, cfg, steps_per_epoch(cfg, prep.windows))
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
        self._writing = False  # a checkpoint is being written: a second signal waits for it
        self._deferred = False

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Within: a second signal interrupts only once the block (a checkpoint write) is done."""
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self._deferred:
            self._deferred = False
            raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            if self._writing:
                self._deferred = True
                return
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


# Config keys `train --resume RUN --set KEY=VALUE` may change: they change neither the model, the
# data nor the order of the batches, so the run goes on exactly where it was.
RESUMABLE_KEYS = (
    "train.epochs",
    "train.checkpoint_every",
    "train.early_stopping.patience",
    "train.learning_rate",
    "train.kernel",
    "train.jit_compile",
    "train.steps_per_call",
    "train.validation_steps",
    "train.tensorboard",
)


class Progress(Protocol):
    """A listener to the training loop: the progress bar (lstmcli.render), and any other
    observer of a run (a TensorBoard writer, a sweep's pruner).

    `epoch_end` is called once per completed epoch, after that epoch's checkpoint (if one was
    due) is written, with the epoch's history row; a listener may raise an `LstmcliError` there
    to stop training (the run directory stays resumable). `close` is called once at the end,
    also when training stops early.
    """

    def epoch_begin(self, epoch: int, epochs: int, steps: int, done: int) -> None: ...

    def step(self, done: int, tokens_per_second: float, shown: dict[str, float]) -> None: ...

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Sums:
    """Running sums of one epoch's metrics (kept in checkpoint.json across an interruption, so a
    resumed epoch reports exactly what an unbroken one would)."""

    loss: float = 0.0  # sum over batches of (mean batch loss × sequences)
    sequences: float = 0.0
    correct: float = 0.0
    tokens: float = 0.0
    seconds: float = 0.0

    def add(self, values: Any) -> None:
        loss, seqs, correct, tokens = (float(v) for v in values[:4])
        self.loss += loss
        self.sequences += seqs
        self.correct += correct
        self.tokens += tokens

    def metrics(self, prefix: str = "") -> dict[str, float]:
        if not self.sequences:
            return {}
        return {f"{prefix}accuracy": self.correct / self.tokens, f"{prefix}loss": self.loss / self.sequences}


class _Steps:
    """The compiled train and evaluation steps, run under the config's tf.distribute strategy.

    lstmcli owns this step instead of handing the model to `model.fit`: the loop can then stop
    within one batch on a signal (also during validation), train across hosts (Keras's fit fails
    under MultiWorkerMirroredStrategy on Keras 3.15, keras-team/keras#20585) and run a faster
    kernel than the stock layer while keeping the stock weights.
    """

    def __init__(self, model: Any, cfg: Config, strategy: Any, choice: Choice) -> None:
        import tensorflow as tf

        self.strategy = strategy
        vocab = len(cfg.vocab)
        loss_fn = model.loss  # the compiled loss (SparseCategoricalCrossentropy)
        optimizer = model.optimizer
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1
        if choice.kernel == "fast":
            from lstmcli.model import kernels

            forward = kernels.make_forward(model, unroll=choice.unroll)
        else:

            def forward(ids: Any, training: bool) -> Any:
                return model(tf.one_hot(ids, vocab), training=training)

        def sums(y: Any, p: Any, loss: Any, stop: Any) -> Any:
            n = tf.cast(tf.shape(y)[0], tf.float32)
            hits = tf.reduce_sum(
                tf.cast(tf.equal(tf.argmax(p, axis=-1, output_type=tf.int32), y), tf.float32)
            )
            return tf.stack([loss * n, n, hits, tf.cast(tf.size(y), tf.float32), stop])

        reseed = _step_seeds(model, optimizer, cfg.seed)

        def train_replica(ids: Any, y: Any, stop: Any) -> Any:
            reseed()
            with tf.GradientTape() as tape:
                p = forward(ids, True)
                # Under tf.distribute a Keras loss is already divided by the replica count (each
                # replica's mean over its share; keras.src.losses.loss.scale_loss_for_distribution),
                # and the optimizer sums the gradients across replicas: as Keras's fit does.
                loss = loss_fn(y, p)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return sums(y, p, loss * replicas, stop)

        def eval_replica(ids: Any, y: Any, stop: Any) -> Any:
            p = forward(ids, False)
            return sums(y, p, loss_fn(y, p) * replicas, stop)

        # A step returns [loss sum, sequences, correct tokens, tokens, stop requests], summed over
        # every replica of every worker: the stop request of one worker (a signal it received)
        # reaches all of them in the same step, so every worker stops after the same batch and
        # no collective operation waits for a worker that has left.
        def on_strategy(fn: Any) -> Any:
            if strategy is None:
                return tf.function(
                    lambda batch, stop: fn(*batch, stop),
                    reduce_retracing=True,
                    jit_compile=choice.jit_compile,
                )

            def step(batch: Any, stop: Any) -> Any:
                out = strategy.run(fn, args=(*batch, stop))
                return strategy.reduce(tf.distribute.ReduceOp.SUM, out, axis=None)

            return tf.function(step, reduce_retracing=True)

        self.train = on_strategy(train_replica)
        self.eval = on_strategy(eval_replica)
        self.many = _many(self.train, cfg.train.batch_size) if strategy is None else None

    def run_train(self, batches: Any, n: int, stop: Any) -> Any:
        """The next `n` training steps: their metric vectors, (n, 5), read back in one go."""
        if n == 1 or self.many is None:
            return self.train(next(batches), stop).numpy()[None]
        return self.many(batches, np.int32(n), stop).numpy()

    def batches(self, ds: Any) -> Any:
        return iter(ds if self.strategy is None else self.strategy.experimental_distribute_dataset(ds))


def _many(step: Any, batch_size: int) -> Any:
    """`many(iterator, n, stop)`: `step` on the iterator's next `n` batches in one compiled call
    (Keras's steps_per_execution), each step's metric vector kept, (n, 5): the host pays its
    per-call cost (dispatch, read-back) once for n steps, and still sees every step's loss. The
    step itself is the same function (its own XLA cluster under jit_compile), so the results
    are those of n single calls, bit for bit.

    The caller gives it full batches only (`Pipeline.full_batches`): inside the graph the
    iterator's batches have an unknown batch size, and given their static shape the step runs
    the very trace (static shapes) a single call runs; a dynamic-shape step measured 0.72-0.76x.
    """
    import tensorflow as tf

    def many(iterator: Any, n: Any, stop: Any) -> Any:
        rows = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            batch = tuple(tf.ensure_shape(x, [batch_size, *x.shape[1:]]) for x in next(iterator))
            rows = rows.write(i, step(batch, stop))
        return rows.stack()

    return tf.function(many)


def _step_seeds(model: Any, optimizer: Any, seed: int) -> Any:
    """`reseed()`: set every random layer's seed state (Dropout's) from (config seed, layer,
    optimizer step), at the start of each training step.

    Keras's SeedGenerator counts its draws in a variable that model.keras does not save, and a
    loaded model starts it again from a fresh seed: resumed dropout masks then differ from the
    unbroken run's. Derived from the optimizer's iteration count (saved with the model, and the
    global step at every moment) the masks are a pure function of (seed, layer, step): a resume
    at any step draws exactly the masks the unbroken run drew. Every replica of a mirrored step
    sets the same state from the same count.
    """
    import tensorflow as tf

    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]

    def reseed() -> None:
        step = optimizer.iterations
        for n, v in enumerate(states):
            # A draw reads (first, second) and adds 1 to second: one draw a layer per step.
            first = tf.constant(seed * 1009 + n, dtype=v.dtype)
            v.assign(tf.stack([first, tf.cast(step, v.dtype)]))

    return reseed


def resolve_kernel(cfg: Config, planned_steps: int | None = None) -> str:
    """The kernel `train.kernel` resolves to here (auto: see `resolve_choice`)."""
    if planned_steps is None:
        planned_steps = cfg.train.epochs * (cfg.train.steps_per_epoch or 1)
    return resolve_choice(cfg, planned_steps).kernel


def resolve_choice(cfg: Config, planned_steps: int, recorded: dict[str, Any] | None = None) -> Choice:
    """The path this run takes (`lstmcli.model.choose`: kernel, XLA, the recurrence's layout) on
    this machine's device kind. A resumed run whose kernel and jit_compile are still auto keeps
    the choice `recorded` at its start: another path would round differently, and a resume must
    go on exactly as the unbroken run."""
    from lstmcli.model import choose

    if recorded and cfg.train.kernel == "auto" and cfg.train.jit_compile == "auto":
        kept = Choice(**recorded)
        if cfg.train.steps_per_call != "auto":  # any number of steps a call gives the same results
            kept = dataclasses.replace(kept, steps_per_call=cfg.train.steps_per_call)
        return kept
    import tensorflow as tf

    device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return choose.choose(cfg, device, planned_steps)


def train(
    prep: Prepared,
    run_dir: Path,
    *,
    progress: Progress | None = None,
    listeners: Sequence[Progress] = (),
) -> TrainResult:
    """Train the model the config describes into `run_dir` (made by `create_run_dir`), from its
    last checkpoint. `progress` and `listeners` hear about epochs and steps (see `Progress`);
    nothing here prints."""
    t0 = time.perf_counter()
    loop = _Loop.open(prep, run_dir, [*([progress] if progress is not None else []), *listeners])
    with contextlib.ExitStack() as closing:
        for lst in loop.hear:
            closing.callback(lst.close)  # also when training stops early or a listener raises
        with _Signals() as sig, _lost_workers(prep.cfg, run_dir, loop.state):
            loop.sig = sig
            if prep.cfg.train.distribute == "multi_worker":
                _same_start(loop, prep.strategy)
            while loop.state.epoch < prep.cfg.train.epochs and loop.epoch():
                pass
    loop.state.wall_seconds = round(loop.state.wall_seconds + time.perf_counter() - t0, 3)
    loop.raise_if_stopped()
    return _finish(loop.model, run_dir, loop.state, prep, loop.choice, loop.chief)


def _same_start(loop: _Loop, strategy: Any) -> None:
    """Every worker of a multi-worker run starts from the chief's weights and optimizer state
    (broadcast: a worker's own copy of the run directory may be stale), and at the chief's place
    in the data: a copy whose checkpoint.json is at another place makes every worker exit 2."""
    model, state = loop.model, loop.state
    variables = {id(v): v for v in [*model.variables, *model.optimizer.variables]}
    mine = [state.epoch, state.step, state.wait, -1 if state.best_epoch is None else state.best_epoch]
    chiefs = distribute.broadcast_from_chief(strategy, list(variables.values()), [float(x) for x in mine])
    if distribute.workers_disagreeing(strategy, chiefs != mine):
        epoch, step = int(chiefs[0]), int(chiefs[1])
        raise UsageError(
            f"{loop.run_dir}: the workers' copies of the run directory differ (the chief's "
            f"{runs.CHECKPOINT} is at epoch {epoch} + {step} steps, this worker's at epoch "
            f"{state.epoch} + {state.step}): give every worker the same run directory contents "
            "(a shared file system, or a fresh copy of the chief's), then resume"
        )


def _check_in_step(run_dir: Path, state: State, model: Any, steps: int) -> None:
    """model.keras's optimizer has taken exactly the steps checkpoint.json says were trained.

    Checkpoints are written as one unit (`runs.RunDir.write_set`), so they always agree; a run
    directory whose files were copied or restored one by one may not, and resuming it would
    train some batches twice or skip them, silently.
    """
    done = int(model.optimizer.iterations.numpy())
    expected = state.epoch * steps + state.step
    if done != expected:
        raise RunDirError(
            f"{run_dir / runs.MODEL}: expected a model trained {expected} steps, as "
            f"{runs.CHECKPOINT} records ({state.epoch} epochs of {steps} steps + {state.step}), "
            f"got one trained {done} steps: the files come from different checkpoints"
        )


@dataclass
class _Loop:
    """One training run's moving parts; `epoch()` runs one epoch, and the decisions it takes at
    the end of one (checkpoint? stop?) are methods of their own."""

    cfg: Config
    run_dir: Path
    state: State
    model: Any
    steps: _Steps
    pipe: Pipeline
    hear: list[Progress]
    chief: bool
    choice: Choice
    sig: _Signals = field(default_factory=_Signals)
    nan_at: tuple[int, int] | None = None  # (epoch, step) where the loss went NaN
    interrupted: bool = False  # stopped by a signal before the configured epochs
    stop_seen: bool = False  # a stop request came with the last step run
    sums: _Sums = field(default_factory=_Sums)
    batches: Any = None
    val_batches: Any = None

    @classmethod
    def open(cls, prep: Prepared, run_dir: Path, hear: list[Progress]) -> _Loop:
        """Claim the run directory, read its checkpoint, load the model and build the steps."""
        cfg = prep.cfg
        chief = distribute.is_chief() if cfg.train.distribute == "multi_worker" else True
        if chief:  # the other workers of a multi-worker run only read the chief's run directory
            runs.claim(run_dir)  # one owner per run directory (a no-op when create_run_dir took it)
            runs.RunDir(run_dir).recover()  # a checkpoint cut short by a crash: finish or drop it
        state = State.read(run_dir)
        if state.finished and state.epoch >= cfg.train.epochs:
            raise UsageError(
                f"{run_dir}: training is already complete ({state.epoch} epochs); to train on, "
                f"extend it: lstmcli train --resume {run_dir} --set train.epochs={state.epoch * 2}"
            )
        extending = state.finished  # a finished run, --set train.epochs=N
        if extending:
            state.finished = False
            if cfg.train.early_stopping.patience and state.best_epoch is not None and chief:
                # model.keras is the best model so far: keep it as such while training goes on.
                runs.RunDir(run_dir).mark_model_best()
        backend.keras()
        if cfg.train.tensorboard and chief:  # one event per completed epoch, also across resumes
            from lstmcli.training import tensorboard_log

            hear.append(tensorboard_log.Writer(run_dir, state.epoch))
        # Seeds again on resume too: the data order comes from the skip below, not from RNG state.
        backend.set_seed(cfg.seed)
        pipe = _pipeline(cfg, prep.windows)
        try:
            with prep.scope():
                model = backend.load_model_for_training(run_dir / runs.MODEL)
                backend.set_precision(model, cfg.train.precision)
        except Exception as e:
            raise LstmcliError(f"{run_dir / runs.MODEL}: cannot resume from it: {e}") from None
        from lstmcli.model import schedules

        scheduled = schedules.is_scheduled(model.optimizer)  # a schedule continues at its own step
        if not scheduled and cfg.train.learning_rate != schedules.current(model.optimizer):
            model.optimizer.learning_rate.assign(cfg.train.learning_rate)  # --set on resume
        if not extending:  # (an early-stopped run goes on from its best model, an older one)
            _check_in_step(run_dir, state, model, pipe.steps)
        choice = resolve_choice(cfg, cfg.train.epochs * pipe.steps, state.choice)
        state.choice = choice.to_dict()
        with prep.scope():
            steps = _Steps(model, cfg, prep.strategy, choice)
        loop = cls(cfg, run_dir, state, model, steps, pipe, hear, chief, choice)
        loop.sums = _Sums(**state.partial) if state.partial else _Sums()
        loop.batches = steps.batches(pipe.train(state.epoch * pipe.steps + state.step))
        # The validation dataset repeats and one epoch takes exactly one pass of it: one iterator
        # serves every epoch (a new iterator per epoch costs more than hello's whole step).
        loop.val_batches = steps.batches(pipe.val) if pipe.val is not None else None
        return loop

    def checkpoint(self) -> None:
        if self.chief:
            with self.sig.holding():  # a second Ctrl-C waits for the write to finish
                _save_checkpoint(self.model, self.run_dir, self.state)

    def epoch(self) -> bool:
        """Run the next epoch (or the rest of an interrupted one); False when training stops."""
        state, epoch = self.state, self.state.epoch
        for lst in self.hear:
            lst.epoch_begin(epoch, self.cfg.train.epochs, self.pipe.steps, state.step)
        t_epoch = time.perf_counter()
        seconds_before = self.sums.seconds
        self._train_batches(epoch, t_epoch)
        if self.nan_at is not None:
            return False  # never checkpoint a model whose loss went NaN: keep the last good one
        self.sums.seconds = seconds_before + time.perf_counter() - t_epoch
        if self.interrupted:
            state.partial = dict(self.sums.__dict__)
            self.checkpoint()  # mid-epoch: resume skips the state.step batches done
            return False
        t_val = time.perf_counter()
        val = self._validate()
        if self.interrupted:
            # Every training batch of the epoch is done: resume runs only its validation.
            state.partial = dict(self.sums.__dict__)
            self.checkpoint()
            return False
        row = self._row(epoch, val, time.perf_counter() - t_val if self.val_batches is not None else 0.0)
        state.history.append(row)
        state.epoch, state.step, state.partial = epoch + 1, 0, None
        self.sums = _Sums()
        stop = self._early_stop(row)  # first: it records the best model so far
        saved = self._checkpoint_due() or stop
        if saved:
            self.checkpoint()
        for lst in self.hear:
            lst.epoch_end(epoch, row)
        if stop:
            return False
        if self.stop_seen:  # asked during the epoch's last step: its checkpoint is complete now
            if not saved:
                self.checkpoint()
            self.interrupted = state.epoch < self.cfg.train.epochs
            return False
        return True

    def _train_batches(self, epoch: int, t_epoch: float) -> None:
        """The epoch's remaining training steps, `steps_per_call` a call (never past the epoch's
        end); stops early on NaN (at the step it appeared) or a stop request."""
        state, pipe = self.state, self.pipe
        while state.step < pipe.steps:
            at = state.epoch * pipe.steps + state.step  # the stream's next batch
            n = max(1, min(self.choice.steps_per_call, pipe.steps - state.step, pipe.full_batches(at)))
            rows = self.steps.run_train(self.batches, n, _flag(self.sig))
            dt = self.sums.seconds + time.perf_counter() - t_epoch
            for values in rows:  # listeners hear every step, as they would one call a step
                if not math.isfinite(float(values[0])):
                    self.nan_at = (epoch + 1, state.step + 1)
                    return
                self.sums.add(values)
                state.step += 1
                if self.hear:
                    rate = pipe.tokens_per_epoch * state.step / pipe.steps / dt if dt > 0 else 0.0
                    for lst in self.hear:
                        lst.step(state.step, rate, self.sums.metrics())
            self.stop_seen = _stop(rows[-1], self.sig, self.cfg)
            if self.stop_seen and state.step < pipe.steps:
                self.interrupted = True
                return

    def _validate(self) -> _Sums:
        """One pass over the validation split (none without one); stops on a stop request."""
        val = _Sums()
        if self.val_batches is None:
            return val
        total = self.pipe.val_steps or 0
        _validating(self.hear, 0, total)
        for done in range(1, total + 1):
            values = self.steps.eval(next(self.val_batches), _flag(self.sig)).numpy()
            val.add(values)
            _validating(self.hear, done, total)
            self.stop_seen = _stop(values, self.sig, self.cfg)
            if self.stop_seen:
                self.interrupted = True
                break
        return val

    def _row(self, epoch: int, val: _Sums, val_seconds: float) -> dict[str, float]:
        """The epoch's line of history.csv."""
        from lstmcli.model import schedules

        sums = self.sums
        row: dict[str, float] = {"epoch": epoch + 1, **sums.metrics(), **val.metrics("val_")}
        row["seconds"] = round(sums.seconds + val_seconds, 6)
        tokens = self.pipe.tokens_per_epoch
        row["tokens_per_second"] = round(tokens / sums.seconds, 1) if sums.seconds > 0 else 0.0
        row["learning_rate"] = schedules.current(self.model.optimizer)  # for the next step
        return row

    def _checkpoint_due(self) -> bool:
        """Every train.checkpoint_every epochs, and at the last one, whatever early stopping says."""
        epoch = self.state.epoch
        return epoch % self.cfg.train.checkpoint_every == 0 or epoch == self.cfg.train.epochs

    def _early_stop(self, row: dict[str, float]) -> bool:
        """Early stopping's bookkeeping for a finished epoch; True when patience has run out."""
        patience, state = self.cfg.train.early_stopping.patience, self.state
        if not patience or "val_loss" not in row:
            return False
        if state.best_val_loss is None or row["val_loss"] < state.best_val_loss:
            state.best_val_loss, state.best_epoch, state.wait = row["val_loss"], state.epoch, 0
            if self.chief:  # the best model so far, kept for the end of training
                runs.RunDir(self.run_dir).save_best(backend.saver(self.model))
            return False
        state.wait += 1
        return state.wait >= patience

    def raise_if_stopped(self) -> None:
        """The errors of a run that ended before its epochs: a NaN loss, a signal."""
        run_dir, state = self.run_dir, self.state
        if self.nan_at is not None:
            epoch, step = self.nan_at
            saved = runs.RunDir(run_dir).read_state().get("epoch", 0)  # the last checkpoint written
            raise LstmcliError(
                f"training stopped: the loss became NaN or infinite at epoch {epoch}, step {step}; "
                f"{run_dir} keeps the last good checkpoint (epoch {saved}). "
                "Lower train.learning_rate and resume or retrain."
            )
        if self.interrupted:
            received = self.sig.received
            name = signal.Signals(received).name if received else "a signal"
            stopped = f"stopped by {name} at epoch {state.epoch + (1 if state.step else 0)}"
            raise Interrupted(
                f"{stopped}; checkpoint saved. Resume with: lstmcli train --resume {run_dir}", stopped
            )


def _validating(hear: Sequence[Progress], done: int, total: int) -> None:
    """Validation is a phase of its own: listeners that show it (the progress bar) hear each batch."""
    for lst in hear:
        if hasattr(lst, "validate_step"):
            lst.validate_step(done, total)


@contextlib.contextmanager
def _lost_workers(cfg: Config, run_dir: Path, state: State) -> Iterator[None]:
    """A multi-worker run whose collective operation fails (another worker died or cannot be
    reached within distribute.COLLECTIVE_TIMEOUT) ends with one clear error, not a hang or a trace."""
    if cfg.train.distribute != "multi_worker":
        yield
        return
    import tensorflow as tf

    try:
        yield
    except (
        tf.errors.UnavailableError,
        tf.errors.DeadlineExceededError,
        tf.errors.CancelledError,
        tf.errors.AbortedError,
        tf.errors.InternalError,
    ) as e:
        saved = runs.RunDir(run_dir).read_state().get("epoch", 0)
        raise LstmcliError(
            f"train.distribute: multi_worker: lost contact with another worker at epoch "
            f"{state.epoch + 1} ({type(e).__name__}); {run_dir} keeps the last checkpoint "
            f"(epoch {saved}). Restart every worker with: lstmcli train --resume {run_dir}"
        ) from None


def _stop(values: Any, sig: _Signals, cfg: Config) -> bool:
    """Whether to stop after this step. One process stops at once; the workers of a multi-worker
    run stop when the step's summed stop requests say so, all after the same batch."""
    if cfg.train.distribute == "multi_worker":
        return bool(values[4] > 0)
    return sig.received is not None


def _flag(sig: _Signals) -> Any:
    """This process's stop request as the tensor a step sums across workers."""
    import numpy as np

    return np.float32(0.0 if sig.received is None else 1.0)


def _finish(
    model: Any, run_dir: Path, state: State, prep: Prepared, choice: Choice, chief: bool
) -> TrainResult:
    cfg = prep.cfg
    pick = state.history[-1] if state.history else {}
    keep_best = bool(cfg.train.early_stopping.patience) and state.best_epoch is not None
    if keep_best and state.best_epoch is not None:
        # Early stopping keeps the best model, and reports the metrics of the model it keeps.
        pick = state.history[state.best_epoch - 1]
    metrics: dict[str, float] = {
        name: pick[name] for name in ("loss", "accuracy", "val_loss", "val_accuracy") if name in pick
    }
    if not chief:
        # A multi-worker run's other workers trained the same model; the chief writes it.
        return TrainResult(run_dir, metrics, state.history, state.epoch, state.wall_seconds)
    files: dict[str, Any] = {}
    best = run_dir / runs.BEST
    if not keep_best:
        kept = run_dir / runs.MODEL  # the last epoch's checkpoint: this very model
        files[runs.MODEL] = backend.saver(model)
    elif best.exists():
        kept = best
        files[runs.MODEL] = lambda p: shutil.copyfile(best, p)
        files[runs.BEST] = None  # the best model becomes model.keras
    else:
        kept = run_dir / runs.MODEL  # an extended run: model.keras already is the best
    report = None
    task = tasks.of(cfg)
    if task.report is not None:
        reported = backend.load_model(kept) if keep_best else model
        done = task.report(cfg, prep.windows, lambda ids: _predict_labels(reported, cfg, ids))
        report = done.document
        metrics.update(done.metrics)
        files.update({name: _json(data) for name, data in done.files.items()})
    elif isinstance(prep.windows, Windows) and prep.windows.test_blocks.size:
        # train.test_split: the kept model on windows never seen
        from lstmcli.analysis import evaluation

        metrics.update(evaluation.test_metrics(run_dir, cfg, prep.windows, model=kept))
    files[runs.METRICS] = _json(metrics)
    files[runs.RUN] = _json(_run_record(state, prep, _kernels_ran(model, choice.kernel), choice))
    files[runs.HISTORY] = lambda p: runs.write_history(p, state.history, run_dir)
    state.finished = True
    files[runs.CHECKPOINT] = _json(state.to_dict())
    runs.RunDir(run_dir).results(files)  # all of them, or (after a crash) none
    return TrainResult(run_dir, metrics, state.history, state.epoch, state.wall_seconds, report)


def _json(data: Any) -> runs.SetWriter:
    return lambda p: runs.write_json(p, data)


def _kernels_ran(model: Any, kernel: str) -> dict[str, str]:
    """The kernel each recurrent layer actually ran: the fast kernel takes LSTM layers only,
    GRU and SimpleRNN run their stock layer inside it."""
    k = backend.keras()
    from lstmcli.model import kernels

    recurrent = [layer for layer in model.layers if isinstance(layer, k.layers.RNN)]
    if kernel != "fast":
        return {layer.name: "stock" for layer in recurrent}
    return {layer.name: "fast" if kernels._fast_lstm(layer) else "stock" for layer in recurrent}


def _run_record(state: State, prep: Prepared, ran: dict[str, str], choice: Choice) -> dict[str, Any]:
    """run.json: what ran, where, with what, and how fast. `kernel` is the one every recurrent
    layer ran ("mixed" when they differ, then `kernels` says which), `kernels` per layer;
    `jit_compile` and `unroll` the path taken, `choice` the whole decision with its reason."""
    import tensorflow as tf

    cfg = prep.cfg
    last = state.history[-1] if state.history else {}
    return {
        "lstmcli": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": backend.keras().__version__,
        "seed": cfg.seed,
        "started": state.started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": state.wall_seconds,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "stopped_early": state.epoch < cfg.train.epochs,
        "config_sha256": cfg.digest(),
        "distribute": cfg.train.distribute,
        "kernel": kinds.pop() if len(kinds := set(ran.values())) == 1 else "mixed",
        "kernels": ran,
        "precision": cfg.train.precision,
        "jit_compile": choice.jit_compile,
        "unroll": choice.unroll,
        "choice": choice.to_dict(),
        "replicas": prep.strategy.num_replicas_in_sync if prep.strategy is not None else 1,
        "devices": list(prep.strategy.extended.worker_devices) if prep.strategy is not None else None,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "train_tokens_per_second": last.get("tokens_per_second"),
    }


# ---------------------------------------------------------------- a task's report


def _predict_labels(model: Any, cfg: Config, ids: np.ndarray, batch: int = 256) -> np.ndarray:
    """The most probable output (classify: label) of each padded sequence, by the Keras model."""
    import tensorflow as tf

    vocab = len(cfg.vocab)
    out = []
    for start in range(0, len(ids), batch):
        x = tf.one_hot(tf.constant(ids[start : start + batch]), vocab)
        out.append(np.argmax(np.asarray(model(x, training=False)), axis=-1))
    return np.concatenate(out).astype(np.int32) if out else np.zeros(0, np.int32)
