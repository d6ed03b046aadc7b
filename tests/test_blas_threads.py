"""The NumPy engine runs BLAS on one thread (`evaluation.one_blas_thread`, through threadpoolctl),
and gives the thread count back afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from lstmcli.analysis.evaluation import one_blas_thread


def _blas_threads() -> list[int]:
    np.ones((2, 2)) @ np.ones((2, 2))  # NumPy's BLAS is loaded
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_one_blas_thread_inside_and_the_old_count_after() -> None:
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() and set(_blas_threads()) == {2}
        with one_blas_thread():
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {2}


def test_predict_starts_numpy_with_one_blas_thread(hello_run) -> None:
    # In a fresh interpreter, as the console script runs: OpenBLAS is told before NumPy loads,
    # so it starts no worker threads (issue 20); a thread count the user set is kept.
    child = (
        "import contextlib, io, os, sys\n"
        "from lstmcli.cli import main\n"
        f"sys.argv = ['lstmcli', 'predict', {str(hello_run)!r}, 'hell', '--json']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as e:\n"
        "        assert not e.code\n"
        "from threadpoolctl import threadpool_info\n"
        "print(os.environ.get('OPENBLAS_NUM_THREADS'),"
        " sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.split() == ["1", "[1]"]
    env["OPENBLAS_NUM_THREADS"] = "2"
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.split()[0] == "2"
