"""A real PostgreSQL server for tests: Debian's `postgresql` package, a throw-away data directory,
listening on 127.0.0.1 only at a free port, stopped and removed at the end of the session.

As root, PostgreSQL refuses to run; its tools then run as the `postgres` user (`runuser`), and the
data directory lives under /tmp (pytest's own temporary folders are private to root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """`postgresql://lstm@127.0.0.1:PORT/sweeps` on a server started for this session."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run installs it)")
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="lstmcli-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "lstm", "--no-sync", "-E", "UTF8")
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "lstm", "sweeps")
        yield f"postgresql://lstm@127.0.0.1:{port}/sweeps"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(root, ignore_errors=True)
