"""The task registry: what a model learns from its data, one module per task (`next_token`,
`classify`), each defining one `Task` that is registered here. Everything that differs by task
asks `of(cfg)` instead of comparing `cfg.task` with a name (ARCHITECTURE.md: "Add a task")."""

from __future__ import annotations

from lstmcli.config import Config
from lstmcli.tasks import classify, next_token
from lstmcli.tasks.task import Task, TaskData, TaskReport

TASKS: dict[str, Task] = {}


def register(task: Task) -> None:
    """Make a task known to the data loading, the model builder, the engines, training and the CLI."""
    TASKS[task.name] = task


def get(name: str) -> Task:
    """The registered task of that name."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"task: expected one of {', '.join(TASKS)}, got {name!r}") from None


def of(cfg: Config) -> Task:
    """The task a config names (`task:`)."""
    return get(cfg.task)


# Explicit registration (no import for its side effect): one line per task module.
register(next_token.TASK)
register(classify.TASK)

__all__ = ["TASKS", "Task", "TaskData", "TaskReport", "get", "of", "register"]
