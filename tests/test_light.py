"""The CLI stays light: --help, --version and config errors never import TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

from conftest import HELLO, ROOT, invoke


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_importing_the_cli_does_not_import_tensorflow() -> None:
    out = _python(
        "import sys, lstmcli.cli; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    assert out == "[]"


def test_help_and_config_errors_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from lstmcli.cli import app\n"
        "r = CliRunner()\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        "assert r.invoke(app, ['train', '--help']).exit_code == 0\n"
        f"res = r.invoke(app, ['train', {str(ROOT / 'configs' / 'nope.yaml')!r}])\n"
        "assert res.exit_code == 2, res.output\n"
        f"assert r.invoke(app, ['config', 'validate', {str(HELLO)!r}]).exit_code == 0\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    assert _python(code) == "False False"


def test_version_reads_package_metadata(runner) -> None:
    result = invoke(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"lstmcli {version('lstmcli')}"


def test_python_dash_m_and_console_script() -> None:
    done = subprocess.run([sys.executable, "-m", "lstmcli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.strip() == f"lstmcli {version('lstmcli')}"
    assert done.stderr == ""


def test_every_command_help_has_an_example(runner) -> None:
    for cmd in (
        ["train"],
        ["inspect"],
        ["predict"],
        ["config", "show"],
        ["config", "validate"],
        ["config", "schema"],
    ):
        result = invoke(runner, *cmd, "--help")
        assert result.exit_code == 0, cmd
        assert "Example" in result.stdout, cmd


def test_shell_completion_script() -> None:
    # As a user runs it: from bash, whose process Typer detects as the shell to complete for
    # (in-process, detection depends on whatever started pytest).
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("lstmcli", path=str(Path(sys.executable).parent)) or "lstmcli"
    done = subprocess.run(
        # Two commands, so bash stays the parent instead of exec'ing lstmcli.
        ["bash", "-c", f"'{exe}' --show-completion; exit $?"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "_lstmcli_completion" in done.stdout and "complete " in done.stdout
