"""tf.distribute: the cluster from TF_CONFIG, the devices, the strategy, and who is the chief."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lstmcli.model.backend import keras

if TYPE_CHECKING:
    from lstmcli.config import Config

# multi_worker runs lstmcli's own training step (lstmcli.training.loop); Keras 3 model.fit under
# MultiWorkerMirroredStrategy fails on TensorFlow 2.21 / Keras 3.15 (keras-team/keras#20585).

COLLECTIVE_TIMEOUT = 120.0
"""Seconds a collective operation of a multi-worker run waits for the other workers before it
fails: a worker that died makes the others exit with an error instead of hanging."""


def collective_timeout() -> float:
    """LSTMCLI_COLLECTIVE_TIMEOUT, checked: a positive number of seconds (COLLECTIVE_TIMEOUT unset)."""
    import math
    import os

    from lstmcli.errors import UsageError

    raw = os.environ.get("LSTMCLI_COLLECTIVE_TIMEOUT")
    if raw is None:
        return COLLECTIVE_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"LSTMCLI_COLLECTIVE_TIMEOUT: expected a positive number of seconds, got {raw!r}")
    return value


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
    keras()  # TensorFlow imported quietly, through the one door
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
    keras()  # TensorFlow imported quietly, through the one door
    import tensorflow as tf

    if kind == "multi_worker":
        timeout = collective_timeout()
        parse_tf_config(os.environ.get("TF_CONFIG"))
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
