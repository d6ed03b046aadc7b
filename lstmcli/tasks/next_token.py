"""`task: next_token` (the default): sliding windows of the data, the softmax over the vocabulary
at every step. Its data jobs are `lstmcli.data`'s (windows, `vocab: auto`); it has no report
beyond loss and accuracy (`train.test_split`'s metrics are `analysis.evaluation`'s), and its
`predict` output is `analysis.predicting`'s (probabilities and generation)."""

from __future__ import annotations

from lstmcli.config import Config
from lstmcli.data import config_sequences, load_windows, resolve_vocab
from lstmcli.tasks.task import Task


def _no_metrics(cfg: Config) -> list[str]:
    return []


TASK = Task(
    name="next_token",
    data="windows",
    output="tokens",
    head="every_step",
    masks_padding=False,
    output_layer="next_token",
    load=load_windows,
    resolve=resolve_vocab,
    sequences=config_sequences,
    metric_names=_no_metrics,
    metric_names_need_data=False,
)
