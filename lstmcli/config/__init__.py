"""The YAML config: its schema (pydantic), YAML 1.2 loading, `--set` overrides, error messages
and the generated reference — one module each; this package re-exports the names the rest of
lstmcli uses, so `from lstmcli.config import Config` and `config.load(...)` stay as they were."""

from __future__ import annotations

from lstmcli.config.loading import dump_yaml, in_source, load, validate
from lstmcli.config.messages import KeyedError, kind_of
from lstmcli.config.overrides import apply_sets, parse_set
from lstmcli.config.reference import STARTER, json_schema, reference_markdown, reference_rows
from lstmcli.config.schema import (
    Chrono,
    Config,
    DataConfig,
    EarlyStoppingConfig,
    ForgetBias,
    LabelsSpec,
    LRSchedule,
    LRScheduleSpec,
    ModelConfig,
    TrainConfig,
    VocabOptions,
    VocabSpec,
)
from lstmcli.config.yaml12 import Loader, load_yaml, read_yaml

__all__ = [
    "STARTER",
    "reference_rows",
    "Chrono",
    "Config",
    "DataConfig",
    "EarlyStoppingConfig",
    "ForgetBias",
    "KeyedError",
    "LRSchedule",
    "LRScheduleSpec",
    "LabelsSpec",
    "Loader",
    "ModelConfig",
    "TrainConfig",
    "VocabOptions",
    "VocabSpec",
    "apply_sets",
    "dump_yaml",
    "in_source",
    "json_schema",
    "kind_of",
    "load",
    "load_yaml",
    "parse_set",
    "read_yaml",
    "reference_markdown",
    "validate",
]
