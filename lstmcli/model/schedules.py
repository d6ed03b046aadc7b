"""train.lr_schedule → a keras.optimizers.schedules object (Keras serialises its own schedules,
so model.keras still loads in safe mode and a resumed run continues the schedule at the
optimizer's own step count: bit-identical to an unbroken run).

Keras is imported here directly, not through `backend.keras()`: `backend.make_optimizer` calls
this module, and going back through `backend` would be an import cycle. Both functions that
touch Keras run only once `backend` has imported it (with TensorFlow's start-up quieted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstmcli.config import Config, LRSchedule

DEFAULT_RATE = {"exponential": 0.96, "step": 0.1}


def schedule_of(cfg: Config) -> LRSchedule:
    from lstmcli.config import LRSchedule

    s = cfg.train.lr_schedule
    return LRSchedule.model_validate({"name": s}) if isinstance(s, str) else s


def learning_rate(cfg: Config, steps_per_epoch: int) -> Any:
    """The optimizer's learning_rate: a float for `constant`, else a Keras schedule whose
    defaults come from the run's length (`steps_per_epoch` × train.epochs)."""
    import keras as k  # already imported, quietly, by backend.make_optimizer: its only caller

    s = schedule_of(cfg)
    lr = cfg.train.learning_rate
    total = max(1, steps_per_epoch * cfg.train.epochs)
    if s.name == "constant":
        return lr
    if s.name == "cosine":
        decay = s.decay_steps or max(1, total - s.warmup_steps)
        if s.warmup_steps:
            return k.optimizers.schedules.CosineDecay(
                0.0, decay, alpha=s.alpha, warmup_target=lr, warmup_steps=s.warmup_steps
            )
        return k.optimizers.schedules.CosineDecay(lr, decay, alpha=s.alpha)
    rate = s.decay_rate if s.decay_rate is not None else DEFAULT_RATE[s.name]
    if s.name == "exponential":
        return k.optimizers.schedules.ExponentialDecay(lr, s.decay_steps or max(1, steps_per_epoch), rate)
    return k.optimizers.schedules.ExponentialDecay(  # step: a staircase
        lr, s.decay_steps or max(1, total // 3), rate, staircase=True
    )


def current(optimizer: Any) -> float:
    """The learning rate the optimizer's next step uses (a schedule evaluated at its step)."""
    return float(optimizer.learning_rate.numpy())


def is_scheduled(optimizer: Any) -> bool:
    """Whether the optimizer's learning rate is a schedule rather than one number.

    Keras 3 has no public accessor for the schedule itself (`optimizer.learning_rate` evaluates
    it at the current step), but its public `get_config()` serializes a schedule to a dict and a
    plain rate to a float, so that tells the two apart without reaching into `_learning_rate`.
    """
    return isinstance(optimizer.get_config()["learning_rate"], dict)
