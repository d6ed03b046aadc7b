"""What a task is: the `Task` record each task module fills in (plain data and NumPy-only
callables), the shape of the data it loads, and its post-training report.

The Keras builder, the engines, the tf.data pipeline, the training loop and the CLI read a
`Task` (through `lstmcli.tasks.of(cfg)`) instead of comparing `cfg.task` with a name; see
ARCHITECTURE.md's "Add a task" checklist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np

    from lstmcli.config import Config


class TaskData(Protocol):
    """What a task's `load` returns, as the training loop sees it: `lstmcli.data.Windows`
    (next token) or `lstmcli.tasks.classify.Examples` (classify). Code that needs more than this
    narrows it with `isinstance`."""

    @property
    def source(self) -> str: ...

    @property
    def count(self) -> int: ...

    def size(self, part: str) -> int:
        """Sequences in the "train", "val" or "test" part (0: none)."""
        ...


@dataclass(frozen=True)
class TaskReport:
    """What a task adds to a finished run beside loss and accuracy (classify: per-label metrics
    and the confusion matrix)."""

    document: dict[str, Any]  # `TrainResult.report`: `train --json`'s `classification`, its tables
    metrics: dict[str, float]  # merged into metrics.json (and the names `--require` may use)
    files: dict[str, Any]  # run-directory JSON files, name → data (confusion.json)


class Sequences(Protocol):
    """The sequences `inspect CONFIG` (and `export --verify`) run: ids, unpadded."""

    def __call__(self, cfg: Config, limit: int = 3, /) -> list[np.ndarray]: ...


class Report(Protocol):
    """The post-training report on the kept model: `predict` maps padded ids (N, T) int32 to the
    most probable output of each sequence (N,) int32 (the training loop runs the Keras model)."""

    def __call__(
        self, cfg: Config, data: TaskData, predict: Callable[[np.ndarray], np.ndarray], /
    ) -> TaskReport: ...


class Predict(Protocol):
    """`predict RUN TEXT…` on a task with its own output. `target` is the opened run
    (`analysis.inspection.Target`), `engine()` builds its engine (after the options are checked)."""

    def __call__(
        self,
        target: Any,
        engine: Callable[[], Any],
        texts: list[str],
        /,
        *,
        top_k: int,
        steps: int,
        temperature: float,
    ) -> Any: ...


@dataclass(frozen=True)
class Task:
    """One value of the config's `task:` key and every job that depends on it.

    The loss is the same for every task: sparse categorical cross-entropy over the softmax
    head, at every step or once per sequence (`head`), so it is no field here.
    """

    name: str  # the config's `task:` value
    # The shape `load` returns ("windows": lstmcli.data.Windows, "examples": padded examples with
    # one label each); training.pipeline keys its tf.data pipelines on it.
    data: Literal["windows", "examples"]
    output: Literal["tokens", "labels"]  # what the softmax indexes: the vocabulary or the labels
    # The last recurrent layer returns every step (a softmax per step) or its last state (one per
    # sequence); `masks_padding` puts a Keras Masking layer after the one-hot input, so padded
    # (all-zero) steps leave the state as it is.
    head: Literal["every_step", "last_state"]
    masks_padding: bool
    output_layer: str  # the Dense softmax layer's name in model.keras
    load: Callable[[Config], tuple[Config, TaskData]]  # the data read and checked; the config resolved
    resolve: Callable[[Config], Config]  # `vocab: auto` (and `labels: auto`) replaced from the data
    sequences: Sequences  # what `inspect CONFIG` shows
    metric_names: Callable[[Config], list[str]]  # final metrics beyond loss/accuracy `--require` may name
    metric_names_need_data: bool  # True: `metric_names` is known only from the config `load` resolved
    report: Report | None = None  # None: loss and accuracy say it all
    predict: Predict | None = None  # None: next-token probabilities and generation (analysis.predicting)

    def classes(self, cfg: Config) -> list[str]:
        """The names of the softmax's outputs, in order: the vocabulary or the labels (resolved)."""
        names = cfg.vocab if self.output == "tokens" else cfg.labels
        if not isinstance(names, list):
            raise RuntimeError(f"{self.output}: auto must be resolved first (Task.resolve)")
        return list(names)
