"""The YAML config schema (pydantic), loading, `--set` overrides and defaults."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from lstmcli.errors import ConfigError, UsageError
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
    """The registered recurrent cells (lstmcli.cell.CELLS), read when a config is checked."""
    from lstmcli.cell import CELLS

    return CELLS


class ModelConfig(_Strict):
    """The recurrent network."""

    cell: str = Field(
        "lstm",
        description="Recurrent cell: lstm, gru or simple_rnn (the cells lstmcli.cell registers).",
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
            raise _KeyedError(
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


SCHEDULES = ("constant", "cosine", "exponential", "step")


class LRSchedule(_Strict):
    """A learning-rate schedule with its parameters (lstmcli.schedules maps it onto
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
        description="Tokens between validation and test windows over a file; default "
        "sequence_length (every held-out token predicted once). A multiple of data.stride.",
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
        "Keras layer: cuDNN on a GPU) or auto (fast on a CPU, stock on a GPU). Same weights, same "
        "saved model either way; run.json records which ran.",
    )
    jit_compile: bool = Field(
        False,
        description="Compile the whole training step with XLA (one device only). With the fast "
        "kernel, measured end to end: 1.08x the stock layer on the standard workload and 1.06-1.09x "
        "PyTorch nn.LSTM on the large one, after a compile of 4-30 s in the first epoch (and again "
        "for a shorter last batch): for long runs.",
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
            raise _KeyedError(
                "train.test_split",
                "expected validation_split + test_split below 1, "
                f"got {self.validation_split} + {self.test_split}",
            )
        return self

    @model_validator(mode="after")
    def _jit_on_one_device(self) -> TrainConfig:
        if self.jit_compile and self.distribute != "none":
            raise _KeyedError(
                "train.jit_compile",
                f"expected false with train.distribute: {self.distribute} (XLA compiles the step of "
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
                raise _KeyedError("labels", "expected no labels for task: next_token (they are for classify)")
            return self
        if self.labels is None:
            raise _KeyedError("labels", "expected a list of labels or auto for task: classify, got nothing")
        if self.data.sequences_file is None:
            given = "data.sequences" if self.data.sequences else "data.text_file"
            raise _KeyedError(
                "data.sequences_file",
                f"expected a JSON Lines file of {{text or tokens, label}} for task: classify, got {given}",
            )
        if self.train.test_split > 0:
            raise _KeyedError(
                "train.test_split",
                "expected 0 for task: classify (its held-out report is on train.validation_split; "
                f"lstmcli evaluate measures next-token runs), got {self.train.test_split}",
            )
        return self

    @property
    def labels_are_auto(self) -> bool:
        """True until `lstmcli.classify` has replaced `labels: auto` by the data's labels."""
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
            raise _KeyedError(
                "vocab_options",
                "expected the defaults with a vocab list (vocab_options shape vocab: auto only), "
                f"got {self.vocab_options.model_dump()}",
            )
        if self.data.unknown == "":
            raise _KeyedError("data.unknown", "expected error, skip or a vocabulary token, got ''")
        if not auto and self.data.unknown not in ("error", "skip") and self.data.unknown not in self.vocab:
            raise _KeyedError(
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
            raise _KeyedError(*problems[0], more=problems[1:])
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data with every default filled in (paths as strings), ready for YAML or JSON."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """SHA-256 of the resolved config, stable across key order."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class _KeyedError(ValueError):
    """A cross-field error that knows the key path it belongs to."""

    def __init__(self, key: str, message: str, more: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.items = [(key, message), *(more or [])]


# ---------------------------------------------------------------- loading


class Loader(yaml.SafeLoader):
    """`yaml.SafeLoader` with YAML 1.2's numbers, and duplicate keys as errors.

    YAML 1.1 (PyYAML's default) reads `1e-3` as a string and `010` as 8; YAML 1.2 and JSON read
    numbers as people write them: `1e-3`, `5E-4`, `.5`, `1_000` (underscores between digits, as
    PyYAML allows), `0x1F`, `0o17`. Booleans keep PyYAML's YAML 1.1 words (`yes`, `on` …), so a
    boolean where a token or a number belongs stays an error, never a silent coercion.
    """


_DIGITS = r"[0-9](?:_?[0-9])*"
_INT = re.compile(rf"^(?:[-+]?{_DIGITS}|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    rf"^(?:[-+]?(?:\.{_DIGITS}|{_DIGITS}(?:\.(?:{_DIGITS})?)?)(?:[eE][-+]?{_DIGITS})?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _NUMBER_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789"))


def _int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text[:2] in ("0o", "0x"):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


def _float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    if text.endswith(("inf", "nan")):
        return float(text.replace(".", ""))
    return float(text)


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` then overriding a key of it is what merges are for
        key = loader.construct_object(key_node, deep=True)
        try:
            line = first.setdefault(key, key_node.start_mark.line)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if line != key_node.start_mark.line:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {line + 1}, again at line "
                f"{key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


Loader.add_constructor("tag:yaml.org,2002:int", _int)
Loader.add_constructor("tag:yaml.org,2002:float", _float)
Loader.add_constructor("tag:yaml.org,2002:map", _mapping)


def load_yaml(text: str) -> Any:
    """Parse YAML text with `Loader` (safe: no Python objects are ever built)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader subclass


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe `Loader` only; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: expected a config file, got a directory") from None
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{path}: expected UTF-8 text, got a byte 0x{e.object[e.start]:02x} at offset {e.start}"
        ) from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(str(path), [f"{where}invalid YAML: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"expected a mapping of keys, got {kind_of(data)}"])
    return data


_KEY_FIRST = re.compile(r"^([a-z_]+)[.\[:]")


@contextmanager
def in_source(source: str) -> Iterator[None]:
    """Name the config in a usage error about one of its keys (`sequence_length: …` raised by
    the data checks becomes `a.yaml: sequence_length: …`); errors naming a file pass as they are."""
    try:
        yield
    except UsageError as e:
        m = _KEY_FIRST.match(e.message)
        if m is None or m.group(1) not in Config.model_fields:
            raise
        raise UsageError(f"{source}: {e.message}") from None


def parse_set(item: str) -> tuple[list[str], Any]:
    """`KEY.PATH=VALUE` → (key path, value read as a YAML scalar)."""
    if "=" not in item:
        raise UsageError(f"--set {item}: expected KEY.PATH=VALUE, got no '='")
    key, raw = item.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not key or any(p == "" for p in parts):
        raise UsageError(f"--set {item}: expected KEY.PATH=VALUE, got an empty key")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise UsageError(f"--set {item}: expected a YAML value after '=', got {raw!r}") from None
    return parts, value


def apply_sets(data: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides to raw config data (validation happens afterwards)."""
    for item in sets:
        parts, value = parse_set(item)
        node: Any = data
        for i, p in enumerate(parts[:-1]):
            nxt = node.get(p) if isinstance(node, dict) else None
            if nxt is None:
                nxt = {}
                node[p] = nxt
            elif not isinstance(nxt, dict):
                raise UsageError(
                    f"--set {item}: {'.'.join(parts[: i + 1])} is not a section, "
                    f"so it has no key {parts[i + 1]!r}"
                )
            node = nxt
        node[parts[-1]] = value
    return data


def validate(data: dict[str, Any], source: str, base: Path | None = None) -> Config:
    """Validate raw data into a Config; every problem becomes `<key.path>: expected …, got …`."""
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(source, _messages(e)) from None
    except _KeyedError as e:  # pragma: no cover - pydantic wraps it, kept for safety
        raise ConfigError(source, [f"{k}: {m}" for k, m in e.items]) from None
    if base is not None:
        cfg = _resolve_paths(cfg, base)
    return cfg


def load(path: str | Path, sets: list[str] | None = None) -> Config:
    """Load, override and validate a config file; paths in it resolve against its folder."""
    p = Path(path)
    data = apply_sets(read_yaml(p), list(sets or []))
    return validate(data, str(p), base=p.resolve().parent)


def _resolve_paths(cfg: Config, base: Path) -> Config:
    updates = {}
    for name in ("text_file", "sequences_file"):
        value = getattr(cfg.data, name)
        if value is not None and not value.is_absolute():
            updates[name] = (base / value).resolve()
    if not updates:
        return cfg
    return cfg.model_copy(update={"data": cfg.data.model_copy(update=updates)})


def dump_yaml(cfg: Config) -> str:
    """The resolved config as YAML (every default filled in), in schema order."""
    return str(yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lstmcli config"
    return schema


def reference_rows() -> list[dict[str, Any]]:
    """Every config key with its default and meaning, from the schema (`config reference --json`)."""
    rows: list[dict[str, Any]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            key = f"{prefix}{name}"
            sub = info.annotation if isinstance(info.annotation, type) else None
            if sub is not None and issubclass(sub, BaseModel):
                walk(sub, f"{key}.")
                continue
            required = info.is_required()
            value = None if required else info.get_default(call_default_factory=True)
            rows.append(
                {
                    "key": key,
                    "required": required,
                    "default": json.loads(json.dumps(value, default=str)),
                    "description": info.description or "",
                }
            )

    walk(Config, "")
    return rows


def reference_markdown() -> str:
    """Every config key as a Markdown table (key, default, meaning), generated from the schema:
    `docs/config.md` is this text (`lstmcli config reference > docs/config.md`), and a test fails
    when the two differ."""
    rows: list[tuple[str, str, str]] = []
    for row in reference_rows():
        if row["required"]:
            default = "required"
        else:
            default = "–" if row["default"] is None else f"`{json.dumps(row['default'], default=str)}`"
        text = row["description"].replace("|", "\\|").replace("\n", " ")
        rows.append((f"`{row['key']}`", default, text))
    lines = [
        "# Config reference",
        "",
        "Generated from lstmcli's schema by `lstmcli config reference` (a test fails when this file",
        "is stale). `lstmcli config schema` prints the same schema as JSON Schema for editors.",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
        *(f"| {k} | {d} | {m} |" for k, d, m in rows),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- error messages


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "path_type": "a file path (string)",
    "int_from_float": "an integer",
}


def kind_of(value: Any, *, json: bool = False) -> str:
    """How a received value is named in messages: `boolean true`, `integer 3`, `a list` …
    (in JSON's words with json=True: numbers are `number`, mappings are `an object`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float) and json:
        return f"number {value}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object" if json else "a mapping"
    return type(value).__name__


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds the member type of a union to the location ("str", "list[str]"): drop it.
    # A user's own key may hold "[" (`0[: 1`): only pydantic's type tags (`list[str]`) go.
    return tuple(
        p
        for p in loc
        if not (isinstance(p, str) and (p in ("str", "list", "chrono_lag") or _TYPE_TAG.fullmatch(p)))
    )


_TYPE_TAG = re.compile(r"[a-z]+\[[a-z_\[\], |]+\]")


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        found = _model_in(getattr(field, "annotation", None))
        if found is None:
            return []
        model = found
    return list(model.model_fields)


def _model_in(ann: Any) -> type[BaseModel] | None:
    """The section model an annotation holds, also inside a union (`forget_bias`'s `{chrono: N}`)."""
    from typing import get_args

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in get_args(ann):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _messages(e: ValidationError) -> list[str]:
    msgs: list[str] = []
    for err in e.errors():
        loc = _clean_loc(tuple(err["loc"]))
        key = _path(loc) or "(top level)"
        etype = err["type"]
        value = err.get("input")
        ctx = err.get("ctx") or {}
        if etype == "extra_forbidden":
            known = _known_keys(loc)
            name = str(err["loc"][-1])
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean {_path(loc[:-1] + (close[0],))!r}?)" if close else ""
            msgs.append(f"{key}: expected one of {', '.join(known)}, got unknown key {name!r}{hint}")
            continue
        if etype == "missing":
            msgs.append(f"{key}: expected a value, got nothing (required key is missing)")
            continue
        if etype == "value_error":
            exc = ctx.get("error")
            if isinstance(exc, _KeyedError):
                msgs.extend(f"{k}: {m}" for k, m in exc.items)
                continue
            text = str(exc) if exc is not None else err["msg"].removeprefix("Value error, ")
            msgs.append(f"{key}: {text}")
            continue
        if etype == "literal_error":
            msgs.append(
                f"{key}: expected {ctx.get('expected', 'one of the allowed values')}, got {kind_of(value)}"
            )
            continue
        if etype in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[
                etype
            ]
            bound = next(iter(ctx.values()), "")
            msgs.append(f"{key}: expected a value {op} {bound}, got {value}")
            continue
        if etype in _EXPECTED:
            # A union (str | list[str]) reports once per member: keep the member that fits.
            branch = next((p for p in err["loc"] if isinstance(p, str) and p not in loc), None)
            if branch == "str" and isinstance(value, list):
                continue
            if branch is not None and etype == "list_type":
                continue
            expected = "a string or a list of tokens" if branch == "str" else _EXPECTED[etype]
            msgs.append(f"{key}: expected {expected}, got {kind_of(value)}")
            continue
        msgs.append(f"{key}: {err['msg']}, got {kind_of(value)}")
    return msgs


STARTER = """\
# lstmcli starter config: `lstmcli train THIS_FILE` trains it as it is.
# Every key not written here takes its default: `lstmcli config show THIS_FILE` prints them all.
# Editors can check this file: see "Editor support" in lstmcli's docs/cli.md (`lstmcli config schema`).

# The one-hot vocabulary: list order is the one-hot index. Quote tokens YAML would read as
# booleans or numbers ("yes", "no", "on", "1").
vocab: [h, e, l, o]

# Timesteps of one sequence; every inline sequence must have exactly this many tokens.
sequence_length: 5

# Seeds Python, NumPy and TensorFlow together: same seed, same weights, same metrics.
seed: 0

model:
  cell: lstm          # lstm | gru | simple_rnn
  units: 8            # hidden size of each recurrent layer
  num_layers: 1

data:
  # Inline sequences: a string is one token per character, or write a list of tokens.
  sequences: [hello, eolll, lleel]

train:
  epochs: 200
  batch_size: 3
  learning_rate: 0.05
  optimizer: adam     # adam | adamw | sgd | rmsprop | adagrad
  checkpoint_every: 20  # epochs between resumable checkpoints (default 1: every epoch)
"""
