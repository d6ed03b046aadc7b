"""What the schema generates: the JSON Schema, the Markdown reference, the starter config."""

from __future__ import annotations

import json
from typing import Any

from pydantic import (
    BaseModel,
)

from lstmcli.config.schema import Config


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
