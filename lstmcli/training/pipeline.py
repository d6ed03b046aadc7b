"""tf.data pipelines over the windows of lstmcli.data: compact ids in, one-hot batches out.

TensorFlow is imported inside the functions only, so importing this module stays light.

Memory stays bounded by the corpus's own ids (one byte a token up to 256 tokens):
- the ids enter TensorFlow once: a non-trainable variable made from the NumPy array through
  DLPack, which keeps one copy of its own (measured: `tf.constant` of a NumPy array keeps two);
- a batch gathers its windows from them in the graph and is one-hot encoded there;
- no array has an entry per window: window index → start is arithmetic (lstmcli.data.Windows);
- shuffling: up to SHUFFLE_BUFFER training windows are shuffled exactly (a full buffer over
  window numbers, as Keras-style `shuffle(len)`); above that, each pass visits the blocks of
  windows in a fresh seeded order (one int64 per block, `stateless_shuffle` of the pass
  number), and a SHUFFLE_BUFFER-window buffer mixes windows across the blocks it spans.
  A buffer of every window costs ~180 bytes a window in tf.data (measured: 18 GB for 100 M).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmcli import tasks
from lstmcli.data import ALIGN, Windows, aligned_empty

if TYPE_CHECKING:
    from lstmcli.config import Config
    from lstmcli.tasks import TaskData
    from lstmcli.tasks.classify import Examples

SHUFFLE_BUFFER = 1 << 15
"""Training windows shuffled exactly up to this many; a shuffle buffer of this size above it."""


class Datasets:
    """The input pipelines of one training run, over one copy of the ids in TensorFlow.

    Elements are (one-hot inputs (batch, T, vocab) float32, target ids (batch, T) int32). For
    inline sequences the batches are the ones lstmcli 0.1 made (same windows, same seeded
    shuffle), so training is bit-identical to it.
    """

    def __init__(self, cfg: Config, windows: Windows, one_hot: bool = True) -> None:
        import tensorflow as tf

        if cfg.vocab_is_auto:
            raise RuntimeError("Datasets needs a resolved config: use lstmcli.data.load_windows")
        tr = cfg.train
        self._cfg = cfg
        self._gather = _gather(windows, len(cfg.vocab), one_hot)
        self._lo, self._hi = windows.ranges("train")
        n_train = int((self._hi - self._lo).sum())
        self._n_train = n_train
        full_epoch = -(-n_train // tr.batch_size)
        self.steps = min(tr.steps_per_epoch, full_epoch) if tr.steps_per_epoch else full_epoch
        self.tokens_per_epoch = n_train * (windows.length - 1) * self.steps // full_epoch
        # The stream of batches has a short one every `short_every` batches (the last of each
        # pass over the windows), 0 when every batch is full (the block-shuffled stream).
        blocks = tr.shuffle and n_train > SHUFFLE_BUFFER
        self.short_every = full_epoch if n_train % tr.batch_size and not blocks else 0

        self.val: Any = None
        self.val_steps: int | None = None
        if windows.val_blocks.size:
            vlo, vhi, every = windows.eval_ranges("val")
            n_val = int((-(-(vhi - vlo) // every)).sum())
            self.val_steps = validation_steps(tr, n_val, self.steps, full_epoch)
            n_val = min(n_val, self.val_steps * tr.batch_size)
            # Repeats too, and validation_steps is exactly one pass over the first n_val windows:
            # every epoch validates on the same windows, so its figures compare across epochs.
            val = tf.data.Dataset.range(n_val).batch(tr.batch_size).repeat()
            val = val.map(_in_ranges(vlo, vhi, every)).map(self._gather)
            self.val = val.prefetch(tf.data.AUTOTUNE)

    def train(self, skip_batches: int = 0) -> Any:
        """A new training dataset (forever), `skip_batches` batches in.

        The order of batches is a fixed sequence given the seed, so a resumed run that skips
        the batches it has done sees exactly the batches of an unbroken run. Skipping happens
        on window numbers, before any gathering or one-hot. A new dataset each call: a second
        iterator over the same dataset would draw other shuffle orders.
        """
        import tensorflow as tf

        tr = self._cfg.train
        n = self._n_train
        if tr.shuffle and n > SHUFFLE_BUFFER:
            ds = _block_shuffled(self._lo, self._hi, tr.batch_size, self._cfg.seed)
        else:
            ds = tf.data.Dataset.range(n)
            if tr.shuffle:
                ds = ds.shuffle(n, seed=self._cfg.seed, reshuffle_each_iteration=True)
            ds = ds.batch(tr.batch_size).repeat()
        if skip_batches:
            ds = ds.skip(skip_batches)
        if not (tr.shuffle and n > SHUFFLE_BUFFER):
            ds = ds.map(_in_ranges(self._lo, self._hi))
        return ds.map(self._gather).prefetch(tf.data.AUTOTUNE)


def validation_steps(tr: Any, n_val: int, steps: int, full_epoch: int) -> int:
    """Batches of validation an epoch: train.validation_steps, else every validation window,
    else (with steps_per_epoch) the share of them matching the share of the training windows an
    epoch sees, at least one batch. A 100 MB text with steps_per_epoch: 20 validates on a batch,
    not on ten million windows."""
    full = -(-n_val // int(tr.batch_size))
    if tr.validation_steps:
        return min(int(tr.validation_steps), full)
    if tr.steps_per_epoch and steps < full_epoch:
        return max(1, min(full, -(-full * steps // full_epoch)))
    return full


def ids_variable(ids: np.ndarray) -> Any:
    """The token ids as a non-trainable TensorFlow variable, without a transient copy.

    DLPack hands the NumPy buffer to TensorFlow as it is; TensorFlow requires ALIGN-byte
    aligned data (it aborts the process otherwise), so anything else is copied to an aligned
    array first.
    """
    import tensorflow as tf

    arr = np.ascontiguousarray(ids)
    if arr.ctypes.data % ALIGN or not arr.flags.writeable:
        copy = aligned_empty(arr.size, arr.dtype)
        copy[:] = arr
        arr = copy
    try:
        tensor = tf.experimental.dlpack.from_dlpack(arr.__dlpack__())
    except (AttributeError, TypeError, ValueError, BufferError):  # pragma: no cover - old NumPy
        tensor = tf.convert_to_tensor(arr)
    return tf.Variable(tensor, trainable=False, name="token_ids")


def _in_ranges(lo: np.ndarray, hi: np.ndarray, every: int = 1) -> Any:
    """Map j (the j-th window of the concatenated ranges lo, lo + every, … < hi) to its window
    index."""
    import tensorflow as tf

    lo_t = tf.constant(lo, tf.int64)
    before = tf.constant(np.concatenate([[0], np.cumsum(-(-(hi - lo) // every))]).astype(np.int64))

    def index(j: Any) -> Any:
        k = tf.searchsorted(before[1:], j, side="right", out_type=tf.int64)
        return tf.gather(lo_t, k) + (j - tf.gather(before, k)) * every

    return index


def _block_shuffled(lo: np.ndarray, hi: np.ndarray, batch: int, seed: int) -> Any:
    """Window indices, forever: each pass takes the blocks in a new seeded order, and a
    bounded buffer shuffles the windows of neighbouring blocks together."""
    import tensorflow as tf

    lo_t = tf.constant(lo, tf.int64)
    hi_t = tf.constant(hi, tf.int64)
    blocks = tf.range(len(lo), dtype=tf.int64)
    seed_t = tf.constant(seed, tf.int64)

    def one_pass(p: Any) -> Any:
        order = tf.random.experimental.stateless_shuffle(blocks, seed=tf.stack([seed_t, p]))
        return tf.data.Dataset.from_tensor_slices(order)

    ds = tf.data.Dataset.counter().flat_map(one_pass)
    ds = ds.flat_map(lambda k: tf.data.Dataset.range(lo_t[k], hi_t[k]))
    return ds.shuffle(SHUFFLE_BUFFER, seed=seed).batch(batch)


def _gather(windows: Windows, vocab_size: int, one_hot: bool = True) -> Any:
    """Window indices (batch,) → (one-hot inputs, or input ids, and target ids), gathered in the
    graph. lstmcli's training step takes ids: its fast kernel gathers kernel rows instead of
    multiplying one-hot rows."""
    import tensorflow as tf

    ids = ids_variable(windows.ids)
    positions = tf.range(windows.length, dtype=tf.int64)
    stride = tf.constant(windows.stride, tf.int64)
    offsets = tf.constant(windows.doc_offsets, tf.int64)
    before = tf.constant(windows.doc_windows, tf.int64)
    single = windows.doc_offsets.size == 1

    def fn(w: Any) -> Any:
        if single:
            start = offsets[0] + w * stride
        else:
            d = tf.searchsorted(before[1:], w, side="right", out_type=tf.int64)
            start = tf.gather(offsets, d) + (w - tf.gather(before, d)) * stride
        tokens = tf.cast(tf.gather(ids, start[:, None] + positions), tf.int32)
        inputs = tf.one_hot(tokens[:, :-1], vocab_size) if one_hot else tokens[:, :-1]
        return inputs, tokens[:, 1:]

    return fn


# ---------------------------------------------------------------- task: classify


class LabelDatasets:
    """tf.data pipelines of a classifier: (ids (batch, sequence_length) int32 with PAD, label ids
    (batch,) int32). The same seeded order as lstmcli.training.pipeline: a resumed run skips the batches it
    has done and sees exactly the batches of an unbroken run."""

    def __init__(self, cfg: Config, ex: Examples) -> None:
        import tensorflow as tf

        tr = cfg.train
        self._cfg = cfg
        ids = tf.constant(ex.ids)
        labels = tf.constant(ex.labels)

        def gather(index: Any) -> Any:
            return tf.gather(ids, index), tf.gather(labels, index)

        self._gather = gather
        self._train = tf.constant(ex.train)
        n = int(ex.train.size)
        self._n = n
        full = -(-n // tr.batch_size)
        self.steps = min(tr.steps_per_epoch, full) if tr.steps_per_epoch else full
        self.tokens_per_epoch = int(ex.lengths[ex.train].sum()) * self.steps // full
        self.short_every = full if n % tr.batch_size else 0  # as Datasets.short_every
        self.val: Any = None
        self.val_steps: int | None = None
        if ex.val.size:
            val = tf.data.Dataset.from_tensor_slices(ex.val).batch(tr.batch_size).repeat()
            self.val = val.map(gather).prefetch(tf.data.AUTOTUNE)
            self.val_steps = -(-int(ex.val.size) // tr.batch_size)

    def train(self, skip_batches: int = 0) -> Any:
        import tensorflow as tf

        tr = self._cfg.train
        ds = tf.data.Dataset.range(self._n)
        if tr.shuffle:
            ds = ds.shuffle(self._n, seed=self._cfg.seed, reshuffle_each_iteration=True)
        ds = ds.batch(tr.batch_size).repeat()
        if skip_batches:
            ds = ds.skip(skip_batches)
        order = self._train
        return ds.map(lambda j: self._gather(tf.gather(order, j))).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- by task


def for_task(cfg: Config, data: TaskData) -> Datasets | LabelDatasets:
    """The training pipelines of a task's data, keyed on the shape its `Task.data` declares."""
    return _BY_DATA[tasks.of(cfg).data](cfg, data)


_BY_DATA: dict[str, Callable[[Config, Any], Datasets | LabelDatasets]] = {
    # Token ids in: the training step one-hot encodes them (or gathers).
    "windows": lambda cfg, windows: Datasets(cfg, windows, one_hot=False),
    "examples": LabelDatasets,  # padded examples and their labels
}
