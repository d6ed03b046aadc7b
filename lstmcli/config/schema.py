"""The config schema: pydantic models (`extra="forbid"`) for every section and key."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from lstmcli.config.messages import KeyedError, kind_of
from lstmcli.tokens import tokenize


class _Strict(BaseModel):
    # strict: YAML turns `yes`/`on`/`no` into booleans and `1` into an int; a boolean arriving
    # where a token or a number belongs is an error, never a silent coercion.
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class Chrono(_Strict):
    """`{chrono: N}`: chrono initialisation with an explicit longest lag N."""

    chrono: int = Field(ge=2, le=10_000_000, description="The longest lag (timesteps) to bridge.")


def _forget_bias_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "chrono_lag"
    if value == "chrono":
        return "chrono"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return None


ForgetBias = Annotated[
    Annotated[float, Tag("number")]
    | Annotated[Literal["chrono"], Tag("chrono")]
    | Annotated[Chrono, Tag("chrono_lag")],
    Discriminator(
        _forget_bias_kind,
        custom_error_type="forget_bias_kind",
        custom_error_message="expected a number, chrono or {chrono: N}",
    ),
]


def _cells() -> dict[str, Any]:
    """The registered recurrent cells (lstmcli.model.cell.CELLS), read when a config is checked."""
    from lstmcli.model.cell import CELLS

    return CELLS


class ModelConfig(_Strict):
    """The recurrent network."""

    cell: str = Field(
        "lstm",
        description="Recurrent cell: lstm, gru or simple_rnn (the cells lstmcli.model.cell registers).",
        json_schema_extra=lambda schema: schema.update(enum=list(_cells())),
    )
    units: int = Field(32, ge=1, le=4096, description="Units (hidden size) of each recurrent layer.")
    num_layers: int = Field(1, ge=1, le=16, description="Stacked recurrent layers.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout between layers in training.")
    return_sequences: bool = Field(
        False,
        description="For inspect: outputs are the whole hidden sequence (true) "
        "or only the last step (false), as Keras's return_sequences.",
    )
    forget_bias: ForgetBias = Field(
        1.0,
        description="LSTM forget-gate bias at initialisation: a number (1.0 is Keras's "
        "unit_forget_bias), chrono (Tallec & Ollivier 2018: b_f = log u, u ~ U(1, L - 1) per "
        "unit, b_i = -b_f, L = sequence_length), or {chrono: L} for an explicit longest lag. "
        "Set as weights after building, by seed: the saved model stays stock Keras.",
    )

    @field_validator("cell", mode="before")
    @classmethod
    def _registered_cell(cls, v: Any) -> Any:
        names = list(_cells())
        if not isinstance(v, str) or v not in names:
            shown = " or ".join([", ".join(repr(n) for n in names[:-1]), repr(names[-1])])
            raise ValueError(f"expected {shown}, got {kind_of(v)}")
        return v

    @model_validator(mode="after")
    def _forget_bias_is_lstm(self) -> ModelConfig:
        if self.cell != "lstm" and self.forget_bias != 1.0:
            shown = self.forget_bias if not isinstance(self.forget_bias, Chrono) else "{chrono: N}"
            raise KeyedError(
                "model.forget_bias",
                f"expected 1.0 for model.cell {self.cell} (it sets the LSTM's forget gate), got {shown}",
            )
        return self


class DataConfig(_Strict):
    """Where the training sequences come from.

    Inline `sequences` are each exactly `sequence_length` tokens (inputs seq[:-1], targets
    seq[1:]). Files are cut into sliding windows of `sequence_length + 1` tokens, `stride` apart
    (inputs window[:-1], targets window[1:]); in a `sequences_file` every line is its own document
    and windows never cross lines.
    """

    sequences: list[str | list[str]] | None = Field(
        None,
        description="Inline sequences: a string (one token per character) or a list of tokens.",
    )
    text_file: Path | None = Field(
        None,
        strict=False,
        description="UTF-8 text corpus (relative to the config), cut into sliding windows.",
    )
    sequences_file: Path | None = Field(
        None,
        strict=False,
        description="JSON Lines file: one string or list of tokens per line; each line is a "
        "document and windows never cross lines. For task: classify, one example per line: "
        '{"text": ..., "label": ...} or {"tokens": [...], "label": ...}.',
    )
    tokens: Literal["char", "word"] = Field(
        "char", description="How text is split into tokens: characters or whitespace words."
    )
    unknown: str = Field(
        "error",
        description="A token outside the vocabulary, in the data or in input texts: error, skip, "
        "or a vocabulary token to use instead (with vocab: auto, that token joins the vocabulary).",
    )
    stride: int = Field(1, ge=1, description="Tokens between the starts of two sliding windows over a file.")
    truncate: Literal["error", "left", "right"] = Field(
        "error",
        description="task: classify: an example longer than sequence_length is an error, or loses "
        "tokens on the left (keeps its end) or on the right (keeps its start).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        given = [n for n in ("sequences", "text_file", "sequences_file") if getattr(self, n)]
        if len(given) > 1:
            raise ValueError(f"expected one data source, got {len(given)}: {', '.join(given)}")
        if not given:
            raise ValueError("expected one of sequences, text_file, sequences_file, got none")
        return self


class EarlyStoppingConfig(_Strict):
    patience: int | None = Field(
        None, ge=1, description="Epochs without a better validation loss before stopping."
    )


class LRSchedule(_Strict):
    """A learning-rate schedule with its parameters (lstmcli.training.schedules maps it onto
    keras.optimizers.schedules); defaults are filled in from the run's length when training starts."""

    name: Literal["constant", "cosine", "exponential", "step"] = Field(description="The schedule.")
    warmup_steps: int = Field(0, ge=0, description="cosine: steps of linear warmup from 0 to learning_rate.")
    decay_steps: int | None = Field(
        None,
        ge=1,
        description="Steps of decay: cosine, the whole run after warmup; exponential, one epoch; "
        "step, a third of the run (default).",
    )
    decay_rate: float | None = Field(
        None, gt=0.0, lt=1.0, description="exponential (0.96) and step (0.1): the factor per decay_steps."
    )
    alpha: float = Field(
        0.0, ge=0.0, le=1.0, description="cosine: the final rate, as a share of learning_rate."
    )

    @model_validator(mode="after")
    def _fits(self) -> LRSchedule:
        if self.warmup_steps and self.name != "cosine":
            raise ValueError(
                f"warmup_steps: expected 0 for {self.name} (only cosine warms up), got {self.warmup_steps}"
            )
        if self.decay_rate is not None and self.name not in ("exponential", "step"):
            raise ValueError(f"decay_rate: expected none for {self.name} (exponential and step only)")
        if self.name != "cosine" and self.alpha:
            raise ValueError(f"alpha: expected 0 for {self.name} (cosine only), got {self.alpha}")
        return self


def _schedule_kind(value: Any) -> str | None:
    if isinstance(value, dict | LRSchedule):
        return "mapping"
    if isinstance(value, str):
        return "name"
    return None


LRScheduleSpec = Annotated[
    Annotated[Literal["constant", "cosine", "exponential", "step"], Tag("name")]
    | Annotated[LRSchedule, Tag("mapping")],
    Discriminator(
        _schedule_kind,
        custom_error_type="schedule_kind",
        custom_error_message="expected a schedule name (constant, cosine, exponential, step) "
        "or a mapping {name: ..., warmup_steps: ...}",
    ),
]


class TrainConfig(_Strict):
    """Optimisation settings."""

    epochs: int = Field(100, ge=1, le=1_000_000, description="Passes over the training data.")
    batch_size: int = Field(32, ge=1, description="Sequences per step (the global batch).")
    learning_rate: float = Field(0.01, gt=0.0, le=10.0, description="Optimizer learning rate.")
    clipnorm: float | None = Field(
        None, gt=0.0, description="Clip each gradient to this L2 norm (Keras's clipnorm); null: no clipping."
    )
    lr_schedule: LRScheduleSpec = Field(
        "constant",
        description="Learning-rate schedule: constant, cosine, exponential, step, or a mapping "
        "{name: cosine, warmup_steps: 100, decay_steps: ..., decay_rate: ..., alpha: ...}.",
    )
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"] = Field("adam", description="Optimizer.")
    validation_split: float = Field(
        0.0, ge=0.0, lt=1.0, description="Share of sequences held out for validation (by seed)."
    )
    test_split: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Share of the data held out for testing (by seed, like validation): never "
        "trained or validated on; `lstmcli evaluate RUN` and the end of train measure it.",
    )
    validation_steps: int | None = Field(
        None,
        ge=1,
        description="Batches of validation an epoch, the same ones every epoch. Default: every "
        "validation window; with steps_per_epoch, a share of the validation windows matching the "
        "share of training windows an epoch sees (at least one batch).",
    )
    eval_stride: int | None = Field(
        None,
        ge=1,
        description="Tokens between validation and test windows over a file (and evaluate "
        "--data), on one grid from each document's start; default sequence_length (every held-out "
        "token predicted once), rounded up to a multiple of data.stride when that does not divide "
        "it. A multiple of data.stride.",
    )
    steps_per_epoch: int | None = Field(None, ge=1, description="Cap on steps in one epoch.")
    shuffle: bool = Field(True, description="Shuffle the training sequences every epoch (by seed).")
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    checkpoint_every: int = Field(
        1, ge=1, description="Save a resumable checkpoint every this many epochs (and at the end)."
    )
    distribute: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="tf.distribute: none, mirrored (the devices of one host) or multi_worker "
        "(hosts from the TF_CONFIG environment variable). batch_size is the global batch.",
    )
    kernel: Literal["auto", "fast", "stock"] = Field(
        "auto",
        description="The recurrent kernel training runs: fast (lstmcli's, for CPUs), stock (the "
        "Keras layer: cuDNN on a GPU) or auto: on a GPU the stock layer; on a CPU the one the "
        "measured cost model (lstmcli.model.choose, benchmarks/README.md) expects to finish the "
        "run first (short runs: stock, as the fast kernel's unrolled graph takes ~0.065 s a "
        "timestep to trace; long ones: fast, with XLA when train.jit_compile allows). "
        "Same weights, same saved model either way; run.json records which ran and why.",
    )
    jit_compile: bool | Literal["auto"] = Field(
        "auto",
        description="Compile the whole training step with XLA (one device only): true, false, or "
        "auto (XLA when its compile time, 2-30 s by the shape, pays back over the run's planned "
        "steps, by the measurements in benchmarks/README.md; never with train.distribute; with "
        "the fast kernel it also picks the recurrence's layout: unrolled, looped or K steps a "
        "loop iteration). Measured with the fast kernel: up to 1.6x the step speed on the large "
        "workload, 1.06x on the standard one. run.json records the choice and its reason; a "
        "resumed run keeps the choice it started with.",
    )
    steps_per_call: Literal["auto"] | Annotated[int, Field(ge=1, le=10_000)] = Field(
        "auto",
        description="Training steps run by one call into the compiled step (Keras's "
        "steps_per_execution): the host reads the metrics back once a call, not once a step. "
        "Results are the same bit for bit (a NaN loss is still reported at its step; a signal "
        "stops after the call's last step, a checkpoint records the exact step). auto: 1 with "
        "train.distribute, else enough steps for a call of about 0.25 s by the step's estimated "
        "time (up to 64 for small steps, 1 for large ones); a call never runs past the end of an "
        "epoch, nor over the short batch at the end of a pass over the data (that one runs alone). "
        "May change on --resume.",
    )
    precision: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="bfloat16: the recurrent layers compute under Keras's mixed_bfloat16 policy "
        "(float32 weights, gradients and optimizer; bfloat16 matmuls); the output layer and the "
        "loss stay float32 and model.keras stays a float32 model. Pays where the CPU has "
        "bfloat16 matmuls (AVX512-BF16, AMX) or on a GPU/TPU.",
    )
    devices: list[str] | None = Field(
        None,
        description="For mirrored: the devices to use, e.g. [GPU:0, GPU:1] (CPU:0, CPU:1 splits "
        "the CPU into logical devices); default: every visible GPU, else the CPU.",
    )
    tensorboard: bool = Field(
        False,
        description="Write RUN/tensorboard/ event files, one point per epoch (needs lstmcli[tensorboard]).",
    )

    @model_validator(mode="after")
    def _held_out(self) -> TrainConfig:
        if self.validation_split + self.test_split >= 1.0:
            raise KeyedError(
                "train.test_split",
                "expected validation_split + test_split below 1, "
                f"got {self.validation_split} + {self.test_split}",
            )
        return self

    @model_validator(mode="after")
    def _jit_on_one_device(self) -> TrainConfig:
        if self.jit_compile is True and self.distribute != "none":
            raise KeyedError(
                "train.jit_compile",
                f"expected false or auto with train.distribute: {self.distribute} (XLA compiles the step of "
                "one device), got true",
            )
        return self


class VocabOptions(_Strict):
    """How `vocab: auto` builds the vocabulary from the training data."""

    max_size: int | None = Field(
        None,
        ge=2,
        description="Keep at most this many tokens, the most frequent (null: no limit).",
    )
    min_count: int = Field(1, ge=1, description="Keep only tokens seen at least this many times.")

    @classmethod
    def defaults(cls) -> VocabOptions:
        return cls.model_validate({})


def _vocab_kind(value: Any) -> str | None:
    # Route a list to the list branch and exactly "auto" to the literal: every other value gets
    # one clear error instead of one error per union member.
    if isinstance(value, list):
        return "list"
    if value == "auto":
        return "auto"
    return None


VocabSpec = Annotated[
    Annotated[list[str], Tag("list")] | Annotated[Literal["auto"], Tag("auto")],
    Discriminator(
        _vocab_kind,
        custom_error_type="vocab_kind",
        custom_error_message="expected a list of tokens or auto",
    ),
]


LabelsSpec = Annotated[
    Annotated[list[str], Tag("list")] | Annotated[Literal["auto"], Tag("auto")],
    Discriminator(
        _vocab_kind,
        custom_error_type="labels_kind",
        custom_error_message="expected a list of labels or auto",
    ),
]


class Config(_Strict):
    """An lstmcli experiment."""

    task: Literal["next_token", "classify"] = Field(
        "next_token",
        description="next_token: predict each next token; classify: one label per sequence "
        "(data.sequences_file lines {text or tokens, label}; see labels).",
    )
    vocab: VocabSpec = Field(
        description="Tokens of the one-hot vocabulary (list order is the one-hot index), or auto: "
        "built from the training data, most frequent first (see vocab_options)."
    )
    vocab_options: VocabOptions = Field(
        default_factory=VocabOptions,
        description="How vocab: auto is built (max_size, min_count); only the defaults go with a "
        "vocab list. A run directory's config holds the built list.",
    )
    labels: LabelsSpec | None = Field(
        None,
        description="task: classify: the labels (list order is the output index), or auto: every "
        "label of the data, sorted. A run directory's config holds the list.",
    )
    sequence_length: int = Field(ge=1, le=100_000, description="Timesteps of one sequence (hello: 5).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds Python, NumPy and TensorFlow.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)

    @field_validator("vocab")
    @classmethod
    def _vocab(cls, v: list[str] | str) -> list[str] | str:
        if isinstance(v, str):  # "auto": built from the data (lstmcli.data.resolve_vocab)
            return v
        if len(v) < 2:
            raise ValueError(f"expected at least 2 tokens, got {len(v)}")
        for t in v:
            if t == "":
                raise ValueError("expected non-empty tokens, got ''")
        dup = sorted(t for t, n in Counter(v).items() if n > 1)
        if dup:
            raise ValueError(f"expected distinct tokens, got {dup[0]!r} more than once")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str] | str | None) -> list[str] | str | None:
        if not isinstance(v, list):
            return v
        if len(v) < 2:
            raise ValueError(f"expected at least 2 labels, got {len(v)}")
        if "" in v:
            raise ValueError("expected non-empty labels, got ''")
        dup = sorted(t for t, n in Counter(v).items() if n > 1)
        if dup:
            raise ValueError(f"expected distinct labels, got {dup[0]!r} more than once")
        return v

    @model_validator(mode="after")
    def _task(self) -> Config:
        if self.task == "next_token":
            if self.labels is not None:
                raise KeyedError("labels", "expected no labels for task: next_token (they are for classify)")
            return self
        if self.labels is None:
            raise KeyedError("labels", "expected a list of labels or auto for task: classify, got nothing")
        if self.data.sequences_file is None:
            given = "data.sequences" if self.data.sequences else "data.text_file"
            raise KeyedError(
                "data.sequences_file",
                f"expected a JSON Lines file of {{text or tokens, label}} for task: classify, got {given}",
            )
        if self.train.test_split > 0:
            raise KeyedError(
                "train.test_split",
                "expected 0 for task: classify (its held-out report is on train.validation_split; "
                f"lstmcli evaluate measures next-token runs), got {self.train.test_split}",
            )
        return self

    @property
    def labels_are_auto(self) -> bool:
        """True until `lstmcli.tasks.classify` has replaced `labels: auto` by the data's labels."""
        return isinstance(self.labels, str)

    @property
    def vocab_is_auto(self) -> bool:
        """True until `lstmcli.data.resolve_vocab` has replaced `vocab: auto` by its token list."""
        return isinstance(self.vocab, str)

    def sequence_tokens(self, seq: str | list[str]) -> list[str]:
        """Split one sequence into tokens the way the config says."""
        if isinstance(seq, list):
            return list(seq)
        return tokenize(seq, self.data.tokens)

    def inline_tokens(self, seq: str | list[str]) -> list[str]:
        """One inline sequence's tokens with `data.unknown` applied, as in the data files: a token
        outside the vocabulary is dropped (skip) or replaced by the stand-in token."""
        toks = self.sequence_tokens(seq)
        if self.vocab_is_auto or self.data.unknown == "error":
            return toks
        known = set(self.vocab)
        if self.data.unknown == "skip":
            return [t for t in toks if t in known]
        return [t if t in known else self.data.unknown for t in toks]

    @model_validator(mode="after")
    def _sequences(self) -> Config:
        auto = self.vocab_is_auto
        if not auto and self.vocab_options != VocabOptions.defaults():
            raise KeyedError(
                "vocab_options",
                "expected the defaults with a vocab list (vocab_options shape vocab: auto only), "
                f"got {self.vocab_options.model_dump()}",
            )
        if self.data.unknown == "":
            raise KeyedError("data.unknown", "expected error, skip or a vocabulary token, got ''")
        if not auto and self.data.unknown not in ("error", "skip") and self.data.unknown not in self.vocab:
            raise KeyedError(
                "data.unknown",
                f"expected error, skip or a vocabulary token, got {self.data.unknown!r}",
            )
        if not self.data.sequences:
            return self
        # vocab: auto holds every token of the inline sequences (resolve_vocab checks that).
        known = set(self.vocab) if not auto else None
        problems: list[tuple[str, str]] = []
        for n, seq in enumerate(self.data.sequences):
            toks = self.sequence_tokens(seq)
            bad = [(i, t) for i, t in enumerate(toks) if known is not None and t not in known]
            if bad and self.data.unknown == "error":
                i, t = bad[0]
                problems.append(
                    (
                        f"data.sequences[{n}]",
                        f"expected tokens from the vocabulary [{', '.join(self.vocab)}], "
                        f"got {t!r} at position {i}",
                    )
                )
            elif len(self.inline_tokens(seq)) != self.sequence_length:
                after = f" (after data.unknown: {self.data.unknown})" if bad else ""
                problems.append(
                    (
                        f"data.sequences[{n}]",
                        f"expected {self.sequence_length} tokens (sequence_length), "
                        f"got {len(self.inline_tokens(seq))} in {seq!r}{after}",
                    )
                )
        if problems:
            raise KeyedError(*problems[0], more=problems[1:])
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data with every default filled in (paths as strings), ready for YAML or JSON."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """SHA-256 of the resolved config, stable across key order."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
