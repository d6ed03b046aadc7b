"""Progress on a terminal (stderr), erased when it ends: training's bar, a sweep's trials,
and the spinner of a command that works a while before it prints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lstmcli.render import stderr_console
from lstmcli.render.tables import short

if TYPE_CHECKING:
    from rich.console import Console


class TrainProgress:
    """Training progress on a terminal (stderr), one line: the epoch, the step of it, tokens/s,
    the time left in the whole run, and the running loss of the epoch (then the last epoch's
    validation loss). Validation is a phase of its own with its own bar. The bar is transient:
    it is erased when training ends, however it ends (a Ctrl-C included)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.table import Column

        class _Progress(Progress):
            # Three columns short of the terminal's width: the "^C" the terminal echoes when
            # Ctrl-C is typed then lands on the bar's own line (which is erased) instead of
            # wrapping the cursor onto a new line, which would leave the bar on the screen.
            def get_renderable(self) -> Any:
                from rich.constrain import Constrain

                return Constrain(super().get_renderable(), width=max(20, console.width - 3))

        self._bar = _Progress(
            # One line, always: a column that does not fit is cut, never wrapped onto a second
            # line (the bar shrinks first, down to nothing).
            TextColumn("{task.fields[phase]}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(no_wrap=True, ratio=1)),
            TextColumn("{task.fields[steps]} ·{task.fields[rate]}", table_column=Column(no_wrap=True)),
            TimeRemainingColumn(compact=True, table_column=Column(no_wrap=True)),
            TextColumn("left{task.fields[metrics]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=console,
            transient=True,
            expand=True,
        )
        self._train: Any = None
        self._val: Any = None
        self._epoch = ""
        self._steps = 0
        self._last: dict[str, float] = {}

    def epoch_begin(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        self._epoch, self._steps = f"{epoch + 1}/{epochs}", steps
        fields: dict[str, Any] = {"phase": f"epoch {self._epoch}", "steps": f"step {done}/{steps}"}
        if self._train is None:
            # The bar spans the whole run, so the time left is the run's; a resumed run starts
            # where it was (a task created there, so the jump is not taken for speed).
            self._bar.start()
            self._train = self._bar.add_task(
                "train",
                total=epochs * steps,
                completed=epoch * steps + done,
                rate=" – tokens/s ·",
                metrics="",
                **fields,
            )
        else:
            self._bar.update(self._train, total=epochs * steps, visible=True, **fields)
        if self._val is not None:
            self._bar.update(self._val, visible=False)
        self._show()

    def step(self, done: int, tokens_per_second: float, shown: dict[str, float]) -> None:
        epoch = int(self._epoch.split("/")[0]) - 1
        self._bar.update(
            self._train,
            completed=epoch * self._steps + done,
            steps=f"step {done}/{self._steps}",
            rate=f" {tokens_per_second:,.0f} tokens/s ·",
        )
        self._show(shown)

    def validate_step(self, done: int, total: int) -> None:
        """Validation after the epoch's training steps: a phase (and bar) of its own."""
        fields: dict[str, Any] = {
            "phase": f"epoch {self._epoch} validation",
            "steps": f"batch {done}/{total}",
        }
        if self._val is None:
            self._val = self._bar.add_task(
                "validate", total=total, completed=done, rate="", metrics="", **fields
            )
        elif done == 0:
            self._bar.reset(self._val, total=total, completed=0)
            self._bar.update(self._val, visible=True, **fields)  # reset() drops the fields
        else:
            self._bar.update(self._val, completed=done, **fields)
        self._bar.update(self._train, visible=False)

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        self._last = row
        self._show()

    def _show(self, running: dict[str, float] | None = None) -> None:
        parts = []
        if running and "loss" in running:
            parts.append(f"loss {running['loss']:.4f}")
        elif "loss" in self._last:
            parts.append(f"loss {self._last['loss']:.4f}")
        # The validation loss when there is room: at 80 columns the bar keeps its place.
        if "val_loss" in self._last and self._bar.console.width >= 100:
            parts.append(f"val_loss {self._last['val_loss']:.4f}")
        self._bar.update(self._train, metrics="".join(f" · {p}" for p in parts))

    def close(self) -> None:
        if self._train is not None:
            self._bar.stop()


@contextlib.contextmanager
def working(message: str, show: bool, after: float = 1.0) -> Iterator[None]:
    """A spinner with `message` on stderr while the block runs, if it runs longer than `after`
    seconds and `show` (a terminal, not --quiet, not --json); erased when the block ends."""
    if not show:
        yield
        return
    import threading

    status = stderr_console().status(message)
    lock = threading.Lock()
    started = False

    def start() -> None:
        nonlocal started
        with lock:
            if not done.is_set():
                status.start()
                started = True

    done = threading.Event()
    timer = threading.Timer(after, start)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            done.set()
            timer.cancel()
            if started:
                status.stop()


# ---------------------------------------------------------------- sweep progress (issue 17)


def _settings(values: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={short(v)}" for k, v in values.items())


def sweep_best_text(doc: Mapping[str, Any]) -> str:
    """`best so far: NAME (val_loss 1.2345)`, or that none has finished yet."""
    best = doc.get("best")
    metric = doc["objective"]["metric"]
    if not best:
        return "best so far: none finished yet"
    value = best["metrics"].get(metric)
    shown = f"{value:.4f}" if isinstance(value, int | float) else "?"
    names = [p["name"] for p in doc["points"]]
    which = f"trial {names.index(best['name']) + 1}" if best["name"] in names else best["name"]
    return f"best so far: {which}, {metric} {shown}"  # the trial's number: its name is long


def sweep_trial_line(doc: Mapping[str, Any], name: str) -> str:
    """Which trial of how many, its settings, and the best so far (printed before a trial)."""
    names = [p["name"] for p in doc["points"]]
    index = names.index(name) + 1 if name in names else len(names) + 1
    values: dict[str, Any] = next((p["values"] for p in doc["points"] if p["name"] == name), {})
    return f"trial {index}/{doc['trials']} · {_settings(values)} · {sweep_best_text(doc)}"


class SweepProgress:
    """A sweep with worker processes, on a terminal (stderr): one bar for the trials done of the
    total and the best so far, one bar per running trial (its number, settings, epochs), and a
    line for each trial as it ends."""

    def __init__(self, console: Console, epochs: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._epochs = epochs
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=True,
        )
        self._sweep: Any = None
        self._tasks: dict[str, Any] = {}
        self._ended: set[str] = set()

    def update(self, doc: Mapping[str, Any]) -> None:
        from rich.markup import escape

        if self._sweep is None:
            self._bar.start()
            self._sweep = self._bar.add_task("sweep", total=doc["trials"], unit="trials", note="")
        done = [p for p in doc["points"] if p["status"] in ("finished", "pruned", "failed")]
        self._bar.update(self._sweep, completed=len(done), note=escape(sweep_best_text(doc)))
        metric = doc["objective"]["metric"]
        for i, p in enumerate(doc["points"], 1):
            name = p["name"]
            label = escape(f"trial {i}/{doc['trials']} {_settings(p['values'])}")
            if p["status"] == "running":
                if name not in self._tasks:
                    self._tasks[name] = self._bar.add_task(label, total=self._epochs, unit="epochs", note="")
                value = p["metrics"].get(metric)
                note = f"{metric} {value:.4f}" if isinstance(value, int | float) else ""
                self._bar.update(self._tasks[name], completed=p["epochs"], note=note)
                continue
            if name in self._tasks:
                self._bar.remove_task(self._tasks.pop(name))
            if p["status"] in ("finished", "pruned", "failed") and name not in self._ended:
                self._ended.add(name)
                value = p["metrics"].get(metric)
                shown = f" · {metric} {value:.4f}" if isinstance(value, int | float) else ""
                self._bar.console.print(
                    f"trial {i}/{doc['trials']} {p['status']}: {name}{shown}", highlight=False, markup=False
                )

    def note(self, line: str) -> None:
        self._bar.console.print(line, highlight=False, markup=False)

    def close(self) -> None:
        if self._sweep is not None:
            self._bar.stop()
