"""The README stays true: its CI example runs as written, and its commands exist."""

from __future__ import annotations

import re
import shutil

import pytest

import terminal
from conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_readme_is_short() -> None:
    # A newcomer reads it in five minutes; the rest lives in docs/.
    assert len(README.splitlines()) <= 150


# A training at a pty (~9 s quiet), beside the Quickstart's: CI's slow run.
@pytest.mark.slow
def test_ci_example_runs_as_written(tmp_path) -> None:
    block = re.search(r"<!-- ci-example -->\n```sh\n(.*?)```", README, re.S)
    assert block, "README lost its CI example"
    # jq is part of the example; .ci/run installs it, and without it this test fails, not skips.
    assert shutil.which("jq"), "jq is not installed: apt-get install jq (.ci/run does)"
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    # At a terminal, 80 columns wide, as a person pasting it would run it.
    done = terminal.shell(block.group(1), cols=80, cwd=tmp_path, timeout=600)
    assert done.code == 0, done.screen
    assert "internal error" not in done.text and "Traceback" not in done.text
    assert "accuracy: 1" in done.text


@pytest.mark.slow
def test_quickstart_at_a_terminal(tmp_path) -> None:
    # The Quickstart's first command, its lstmcli part as typed at an 80-column terminal (the
    # venv it makes is the one these tests run in; .ci/run makes one from scratch).
    block = re.search(r"## Quickstart.*?```sh\n(.*?)```", README, re.S)
    assert block, "README lost its Quickstart"
    parts = [p.strip().removeprefix(".venv/bin/") for p in block.group(1).split("&&")]
    typed = [p for p in parts if p.startswith("lstmcli ")]
    assert [p.split()[1] for p in typed] == ["train", "predict"], typed
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    done = terminal.shell(" && ".join(typed), cols=80, cwd=tmp_path, timeout=600)
    screen = done.screen
    assert done.code == 0, screen
    assert "internal error" not in done.text and "Traceback" not in done.text
    assert "final metrics" in screen and "run directory: runs/hello" in screen
    assert re.search(r"│ +1 │ 'o' +│", screen), screen


def test_every_lstmcli_subcommand_in_the_docs_exists(runner) -> None:
    from conftest import invoke

    docs = [README, *((p.read_text(encoding="utf-8")) for p in sorted((ROOT / "docs").glob("*.md")))]
    code = "\n".join(re.findall(r"```(?:sh|console)\n(.*?)```", "\n".join(docs), re.S))
    used = set(re.findall(r"lstmcli ((?:config )?[a-z]+)", code))
    assert {"train", "inspect", "predict", "runs", "compare", "config show"} <= used, used
    for words in used:
        result = invoke(runner, *words.split(), "--help")
        assert result.exit_code == 0, words


def test_docs_config_md_is_generated_from_the_schema(runner) -> None:
    from conftest import invoke

    done = invoke(runner, "config", "reference")
    assert done.exit_code == 0, done.output
    current = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert current == done.stdout, "docs/config.md is stale: lstmcli config reference > docs/config.md"
    from lstmcli.config import Config

    for name in Config.model_fields:  # every top-level key is documented
        assert f"`{name}" in current
