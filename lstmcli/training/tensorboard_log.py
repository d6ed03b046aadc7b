"""train.tensorboard: RUN/tensorboard/ event files, one point per completed epoch, written by a
training listener through TensorBoard's own event writer (the `tensorboard` extra).

Why TensorBoard's writer and not `tf.summary`: TensorFlow 2.21 no longer depends on the
tensorboard package, and viewing the curves needs it anyway; its writer is plain protobuf and
file I/O (no graph, no TensorFlow ops inside lstmcli's training step), and the same package
reads the files back (`EventAccumulator`), which is how the tests check them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lstmcli.errors import UsageError

FOLDER = "tensorboard"
MISSING = (
    "train.tensorboard: true needs the tensorboard package: pip install 'lstmcli[tensorboard]' "
    "(or set train.tensorboard: false)"
)


def require() -> None:
    """Exit 2 before anything is written when the tensorboard package is missing."""
    import importlib.util

    # Found, not imported: TensorBoard imports TensorFlow when it can, and this check runs
    # before lstmcli.model.backend has quieted TensorFlow's start-up.
    try:
        found = importlib.util.find_spec("tensorboard.summary.writer.event_file_writer") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UsageError(MISSING)


class Writer:
    """A training listener: each completed epoch's history row becomes one event (step = epoch)
    of scalars named as history.csv's columns: loss, accuracy, val_loss, val_accuracy,
    learning_rate, tokens_per_second, seconds."""

    def __init__(self, run_dir: Path, done_epochs: int) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.dir = run_dir / FOLDER
        self.dir.mkdir(exist_ok=True)
        trim(self.dir, done_epochs)
        self._writer: Any = EventFileWriter(str(self.dir))

    def epoch_begin(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        pass

    def step(self, done: int, tokens_per_second: float, shown: dict[str, float]) -> None:
        pass

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=k, simple_value=float(v)) for k, v in row.items() if k != "epoch"]
        self._writer.add_event(
            Event(wall_time=time.time(), step=int(row["epoch"]), summary=Summary(value=values))
        )
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def trim(folder: Path, done_epochs: int) -> None:
    """Keep exactly one event per epoch across a resume: a run resumed from a checkpoint
    repeats the epochs after it (a crash, or checkpoint_every > 1), so events of those epochs
    written before are dropped (the kept ones are rewritten with their own wall times)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    files = sorted(p for p in folder.iterdir() if p.name.startswith("events.out.tfevents."))
    if not files:
        return
    kept, dropped = [], False
    for f in files:
        # The raw loader: EventFileLoader would hand back scalars migrated to tensors.
        for raw in RawEventFileLoader(str(f)).Load():
            event = Event.FromString(raw)
            if not event.HasField("summary"):
                continue
            if event.step <= done_epochs:
                kept.append(event)
            else:
                dropped = True
    if not dropped:
        return
    writer = EventFileWriter(str(folder), filename_suffix=".trimmed")
    for event in kept:
        writer.add_event(event)
    writer.close()
    for f in files:
        f.unlink()
