"""The one door to TensorFlow/Keras: a quiet import, seeding, and the model lstmcli builds."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstmcli.config import Config

# TensorFlow's C++ start-up lines ("oneDNN custom operations are on", "Could not find cuda
# drivers", "All log messages before absl::InitializeLog() ...") are written straight to file
# descriptor 2 before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL alone does not stop
# them on TensorFlow 2.21. Python cannot intercept them; only redirecting the descriptor can.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:.]+\s+\d+ "
    r"\S+:\d+\]|.*(oneDNN custom operations|cuda drivers|cuInit|TF-TRT|rebuild TensorFlow with))"
)

_keras: Any = None


def keras() -> Any:
    """Import Keras on the TensorFlow backend once, with TensorFlow's start-up noise filtered."""
    global _keras
    if _keras is not None:
        return _keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    with _filtered_stderr():
        import keras as k
        import tensorflow as tf  # noqa: F401  (imported here so its noise is filtered)
    tf.get_logger().setLevel("ERROR")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TensorFlow
        pass
    _keras = k
    return k


class _filtered_stderr:
    """Send fd 2 to a temporary file for the duration, then replay the lines that are not noise."""

    def __enter__(self) -> None:
        sys.stderr.flush()
        self._tmp = tempfile.TemporaryFile(mode="w+b")
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()
        kept = [line for line in text.splitlines() if line.strip() and not _NOISE.match(line)]
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow together, and make TensorFlow's ops deterministic."""
    k = keras()
    k.utils.set_random_seed(seed)  # seeds `random`, NumPy and TensorFlow
    import tensorflow as tf

    # Same config + seed on the same machine → bit-identical weights (see README "Determinism").
    tf.config.experimental.enable_op_determinism()


def build_model(cfg: Config) -> Any:
    """The training model: one-hot input → stacked recurrent layers → Dense softmax per step.

    Only stock Keras layers, so `keras.models.load_model(path)` loads the saved file in safe
    mode with no custom objects.
    """
    k = keras()
    v = len(cfg.vocab)
    layer_cls = {"lstm": k.layers.LSTM, "gru": k.layers.GRU, "simple_rnn": k.layers.SimpleRNN}[cfg.model.cell]
    layers: list[Any] = [k.Input(shape=(None, v), name="one_hot")]
    for n in range(cfg.model.num_layers):
        layers.append(layer_cls(cfg.model.units, return_sequences=True, name=f"{cfg.model.cell}_{n}"))
        if cfg.model.dropout > 0:
            layers.append(k.layers.Dropout(cfg.model.dropout, name=f"dropout_{n}"))
    layers.append(k.layers.Dense(v, activation="softmax", name="next_token"))
    return k.Sequential(layers, name="lstmcli")


def make_optimizer(cfg: Config, steps_per_epoch: int = 1) -> Any:
    """The optimizer with train.clipnorm and train.lr_schedule (lstmcli.schedules; a schedule's
    default lengths come from `steps_per_epoch`)."""
    from lstmcli import schedules

    k = keras()
    cls = {
        "adam": k.optimizers.Adam,
        "adamw": k.optimizers.AdamW,
        "sgd": k.optimizers.SGD,
        "rmsprop": k.optimizers.RMSprop,
        "adagrad": k.optimizers.Adagrad,
    }[cfg.train.optimizer]
    clip = {"clipnorm": cfg.train.clipnorm} if cfg.train.clipnorm else {}
    return cls(learning_rate=schedules.learning_rate(cfg, steps_per_epoch), **clip)


def compile_model(model: Any, cfg: Config, steps_per_epoch: int = 1) -> None:
    k = keras()
    model.compile(
        optimizer=make_optimizer(cfg, steps_per_epoch),
        loss=k.losses.SparseCategoricalCrossentropy(),
        metrics=[k.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def load_model_for_training(path: Any) -> Any:
    """Load a checkpoint with its optimizer state (safe mode: nothing in the file executes)."""
    k = keras()
    return k.models.load_model(path, safe_mode=True, compile=True)


def load_model(path: Any) -> Any:
    """Load a saved model in safe mode (nothing in the file is executed)."""
    k = keras()
    return k.models.load_model(path, safe_mode=True, compile=False)


# ---------------------------------------------------------------- tf.distribute

# multi_worker runs lstmcli's own training step (lstmcli.training); Keras 3 model.fit under
# MultiWorkerMirroredStrategy fails on TensorFlow 2.21 / Keras 3.15 (keras-team/keras#20585).

COLLECTIVE_TIMEOUT = 120.0
"""Seconds a collective operation of a multi-worker run waits for the other workers before it
fails: a worker that died makes the others exit with an error instead of hanging."""


def parse_tf_config(raw: str | None) -> dict[str, Any]:
    """Check the standard TF_CONFIG variable: a cluster of workers and this process's task."""
    import json

    from lstmcli.errors import UsageError

    if not raw:
        raise UsageError(
            "train.distribute: multi_worker needs the TF_CONFIG environment variable "
            '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}), got none'
        )
    try:
        tf_config = json.loads(raw)
    except ValueError as e:
        raise UsageError(f"TF_CONFIG: expected JSON, got invalid JSON ({e})") from None
    if not isinstance(tf_config, dict):
        raise UsageError(f"TF_CONFIG: expected a JSON object, got {type(tf_config).__name__}")
    cluster = tf_config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise UsageError(f"TF_CONFIG: cluster: expected a mapping of job name to addresses, got {cluster!r}")
    for job, addrs in cluster.items():
        if (
            not isinstance(addrs, list)
            or not addrs
            or not all(isinstance(a, str) and ":" in a for a in addrs)
        ):
            raise UsageError(f"TF_CONFIG: cluster.{job}: expected a list of host:port, got {addrs!r}")
    task = tf_config.get("task")
    if not isinstance(task, dict):
        raise UsageError(f"TF_CONFIG: task: expected {{type, index}}, got {task!r}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster:
        raise UsageError(f"TF_CONFIG: task.type: expected one of {', '.join(cluster)}, got {kind!r}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise UsageError(f"TF_CONFIG: task.index: expected 0..{len(cluster[kind]) - 1}, got {index!r}")
    return tf_config


def configure_devices(cfg: Config) -> None:
    """Before TensorFlow's runtime starts: split the CPU into logical devices when the config
    asks for more CPUs than the machine shows (CPU:0, CPU:1 on one CPU), so `mirrored` can be
    used and tested without GPUs."""
    wanted = [d.upper().removeprefix("/") for d in cfg.train.devices or []]
    cpus = [d for d in wanted if d.startswith("CPU:")]
    if cfg.train.distribute != "mirrored" or len(cpus) < 2:
        return
    keras()
    import tensorflow as tf

    physical = tf.config.list_physical_devices("CPU")
    need = max(int(d.split(":")[1]) for d in cpus) + 1
    if len(physical) == 1 and need > 1:
        try:
            tf.config.set_logical_device_configuration(
                physical[0], [tf.config.LogicalDeviceConfiguration() for _ in range(need)]
            )
        except RuntimeError:
            pass  # already initialised in this process: the device check below reports it


def make_strategy(cfg: Config) -> Any:
    """The tf.distribute strategy the config asks for (None for `none`); every problem is a
    usage error raised before any training starts."""
    import os

    from lstmcli.errors import UsageError

    kind = cfg.train.distribute
    if kind == "none":
        return None
    keras()
    import tensorflow as tf

    if kind == "multi_worker":
        parse_tf_config(os.environ.get("TF_CONFIG"))
        timeout = float(os.environ.get("LSTMCLI_COLLECTIVE_TIMEOUT", COLLECTIVE_TIMEOUT))
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        )
    else:
        devices = cfg.train.devices
        if devices is not None and not devices:
            raise UsageError("train.devices: expected at least one device for mirrored, got none")
        available = {
            d.name.removeprefix("/device:").upper(): d.name for d in tf.config.list_logical_devices()
        }
        if devices:
            names = []
            for d in devices:
                key = d.upper().removeprefix("/").removeprefix("DEVICE:")
                if key not in available:
                    raise UsageError(
                        f"train.devices: {d!r} is not a device here; available: "
                        f"{', '.join(sorted(available))}"
                    )
                names.append(available[key])
            strategy = tf.distribute.MirroredStrategy(devices=names)
        else:
            strategy = tf.distribute.MirroredStrategy()
    replicas = strategy.num_replicas_in_sync
    if cfg.train.batch_size % replicas:
        raise UsageError(
            f"train.batch_size: expected a multiple of the {replicas} replicas (the batch size is "
            f"global, split across replicas), got {cfg.train.batch_size}"
        )
    return strategy


def is_chief() -> bool:
    """Only the chief writes the run directory: worker 0 (or the `chief` task) of TF_CONFIG.

    A malformed TF_CONFIG is a usage error here too (parse_tf_config), never a traceback."""
    import os

    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    tf_config = parse_tf_config(raw)
    task = tf_config["task"]
    return task["type"] == "chief" or (
        task["type"] == "worker" and task["index"] == 0 and "chief" not in tf_config["cluster"]
    )
