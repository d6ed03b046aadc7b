"""The one door to TensorFlow/Keras: a quiet import, seeding, and the model lstmcli builds."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable
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
    asked = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if asked is not None and asked.strip() in ("0", "1", "2"):
        # The user asked for TensorFlow's own logging at this level: let it through untouched.
        import keras as k
        import tensorflow as tf  # noqa: F401

        _keras = k
        return k
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with filtered_stderr():
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


class filtered_stderr:
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


def set_threads(intra: int, inter: int) -> None:
    """Cap TensorFlow's thread pools (before its first op): a sweep's N worker processes each take
    their share of the cores instead of all of them (N × all-core pools oversubscribe the CPU)."""
    keras()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def build_model(cfg: Config) -> Any:
    """The training model: one-hot input → stacked recurrent layers → Dense softmax per step.

    Only stock Keras layers, so `keras.models.load_model(path)` loads the saved file in safe
    mode with no custom objects.
    """
    k = keras()
    v = len(cfg.vocab)
    from lstmcli import tasks
    from lstmcli.model.cell import CELLS

    layer_cls = getattr(k.layers, CELLS[cfg.model.cell].keras_class)
    task = tasks.of(cfg)  # the head: which outputs, at every step or from the last state
    layers: list[Any] = [k.Input(shape=(None, v), name="one_hot")]
    if task.masks_padding:
        # Padding is an all-zero one-hot row (lstmcli.tasks.classify.PAD): masked, it never changes
        # the state, and the last layer's output is the state after the example's last token.
        layers.append(k.layers.Masking(mask_value=0.0, name="padding"))
    last = cfg.model.num_layers - 1
    for n in range(cfg.model.num_layers):
        seqs = task.head == "every_step" or n != last
        layers.append(layer_cls(cfg.model.units, return_sequences=seqs, name=f"{cfg.model.cell}_{n}"))
        if cfg.model.dropout > 0:
            layers.append(k.layers.Dropout(cfg.model.dropout, name=f"dropout_{n}"))
    layers.append(k.layers.Dense(len(task.classes(cfg)), activation="softmax", name=task.output_layer))
    model = k.Sequential(layers, name="lstmcli")
    _set_forget_bias(model, cfg)
    return model


def _set_forget_bias(model: Any, cfg: Config) -> None:
    """`model.forget_bias` other than Keras's 1.0: written into the stock bias variables."""
    from lstmcli.model.forget_bias import lstm_bias

    k = keras()
    lstms = [layer for layer in model.layers if isinstance(layer, k.layers.LSTM)]
    for n, layer in enumerate(lstms):
        bias = lstm_bias(cfg, layer.units, n)
        if bias is not None:
            layer.cell.bias.assign(bias)


def make_optimizer(cfg: Config, steps_per_epoch: int = 1) -> Any:
    """The optimizer with train.clipnorm and train.lr_schedule (lstmcli.model.schedules; a schedule's
    default lengths come from `steps_per_epoch`)."""
    from lstmcli.model import schedules

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


def set_precision(model: Any, precision: str) -> None:
    """`train.precision`: with bfloat16 every recurrent layer (and its cell) computes under Keras's
    mixed_bfloat16 policy: float32 variables, bfloat16 compute. The output Dense keeps float32, so
    the softmax and the loss are float32. Set on the model training runs, never saved in it
    (`saver`): model.keras stays the stock float32 file the NumPy reader accepts, and a resumed
    run sets it again from its config, exactly as the new run did."""
    k = keras()
    policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    for layer in model.layers:
        if isinstance(layer, k.layers.RNN):
            layer.dtype_policy = policy
            layer.cell.dtype_policy = policy


def saver(model: Any) -> Callable[[Any], None]:
    """`model.save` writing a float32 model: layers under a mixed policy (`set_precision`) are
    saved as float32 (their variables already are) and get their policy back afterwards."""

    def save(path: Any) -> None:
        k = keras()
        mixed = [
            (layer, layer.dtype_policy, layer.cell.dtype_policy)
            for layer in model.layers
            if isinstance(layer, k.layers.RNN) and layer.dtype_policy.name != "float32"
        ]
        for layer, _, _ in mixed:
            layer.dtype_policy = layer.cell.dtype_policy = "float32"
        try:
            model.save(path)
        finally:
            for layer, policy, cell_policy in mixed:
                layer.dtype_policy, layer.cell.dtype_policy = policy, cell_policy

    return save


def load_model_for_training(path: Any) -> Any:
    """Load a checkpoint with its optimizer state (safe mode: nothing in the file executes)."""
    k = keras()
    return k.models.load_model(path, safe_mode=True, compile=True)


def load_model(path: Any) -> Any:
    """Load a saved model in safe mode (nothing in the file is executed)."""
    k = keras()
    return k.models.load_model(path, safe_mode=True, compile=False)
