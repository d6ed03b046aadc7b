"""`train.kernel: auto` / `train.jit_compile: auto`: the path chosen per shape, device and planned
steps (lstmcli.model.choose), explicit settings winning, and what run.json records."""

from __future__ import annotations

import json
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import HELLO, run_json
from lstmcli import config
from lstmcli.config import Config
from lstmcli.errors import LstmcliError
from lstmcli.model import choose

VOCAB = list(string.digits + string.ascii_letters + "-_")  # the benchmark workloads' 64 tokens
# (units, timesteps, steps an epoch, epochs) of benchmarks/benchsuite/workloads.py's suite runs
SMALL, STANDARD, LARGE = (32, 16, 16, 10), (128, 64, 16, 5), (512, 128, 4, 3)


def workload(shape: tuple[int, int, int, int], **train: Any) -> Config:
    units, t, _, epochs = shape
    return Config.model_validate(
        {
            "vocab": VOCAB,
            "sequence_length": t + 1,
            "model": {"units": units},
            "data": {"sequences": ["0" * (t + 1)]},
            "train": {"batch_size": 64, "epochs": epochs, **train},
        }
    )


def planned(shape: tuple[int, int, int, int]) -> int:
    return shape[2] * shape[3]


def hello() -> Config:
    return config.load(HELLO, [])


def test_jit_compile_is_auto_by_default_and_takes_true_false_auto() -> None:
    assert hello().train.jit_compile == "auto"
    assert hello().train.kernel == "auto"
    assert config.load(HELLO, ["train.jit_compile=true"]).train.jit_compile is True
    assert config.load(HELLO, ["train.jit_compile=false"]).train.jit_compile is False
    with pytest.raises(LstmcliError, match="train.jit_compile"):
        config.load(HELLO, ["train.jit_compile=sometimes"])


def test_true_with_distribute_is_still_refused_auto_is_not() -> None:
    with pytest.raises(LstmcliError, match="train.jit_compile: expected false or auto with train.distribute"):
        config.load(HELLO, ["train.distribute=mirrored", "train.jit_compile=true"])
    assert config.load(HELLO, ["train.distribute=mirrored"]).train.jit_compile == "auto"


def test_hello_starts_without_a_compile_or_a_trace() -> None:
    """hello: 300 one-step epochs of a 2-unit model: neither XLA's compile nor the fast kernel's
    unrolled trace (~0.3 s) could pay back; the stock layer starts first."""
    c = choose.choose(hello(), "cpu", 300)
    assert (c.kernel, c.jit_compile, c.unroll) == ("stock", False, True)
    assert "300 steps" in c.reason and "XLA" in c.reason and "trace" in c.reason


def test_the_suite_workloads_as_the_benchmarks_run_them() -> None:
    """The suite's runs are short (12-160 steps). On small and standard neither XLA's compile nor
    the fast kernel's trace pays: the stock layer. On large the stock layer's step is 1.7x the
    fast kernel's (quiet 2026-12-01), so a ~2 s looped compile pays back within 12 steps."""
    for shape in (SMALL, STANDARD):
        c = choose.choose(workload(shape), "cpu", planned(shape))
        assert (c.kernel, c.jit_compile) == ("stock", False), shape
    c = choose.choose(workload(LARGE), "cpu", planned(LARGE))
    assert (c.kernel, c.jit_compile, c.unroll) == ("fast", True, False)


def test_fast_without_xla_where_its_trace_pays_and_xla_is_refused() -> None:
    c = choose.choose(workload(SMALL, jit_compile=False), "cpu", 100_000)
    assert (c.kernel, c.jit_compile, c.unroll) == ("fast", False, True)
    c = choose.choose(workload(SMALL, jit_compile=False), "cpu", planned(SMALL))
    assert c.kernel == "stock"  # 160 steps: ~1 s of trace for ~0.1 s gained


def test_long_runs_take_the_quickest_steps_measured() -> None:
    """Quiet suite of 2026-12-01: no XLA layout beat the fast kernel without XLA on small and
    large, nor the stock layer on standard, once the run is long enough to pay the fast kernel's
    trace; a run as long as the end-to-end benchmark's takes that path."""
    for shape, steps, path in ((SMALL, 28_800, "fast"), (STANDARD, 4_480, "stock"), (LARGE, 2_000, "fast")):
        c = choose.choose(workload(shape), "cpu", steps)
        assert (c.kernel, c.jit_compile) == (path, False), shape


def test_the_choice_is_the_cheapest_estimate_at_every_length() -> None:
    """Whatever the constants: the path taken is the one with the smallest estimated time of the
    candidates its reason lists (a change to one measured figure cannot leave a slower path)."""
    for shape in (SMALL, STANDARD, LARGE):
        cfg = workload(shape)
        flops = choose.step_flops(cfg)
        for n in (10, 100, 1_000, 10_000, 100_000):
            c = choose.choose(cfg, "cpu", n)
            best = min(p.seconds(n) for p in choose._paths(cfg, flops, None))
            taken = [
                p
                for p in choose._paths(cfg, flops, None)
                if (p.kernel, p.jit, p.unroll) == (c.kernel, c.jit_compile, c.unroll)
            ]
            assert taken and taken[0].seconds(n) == best, (shape, n, c)


def test_a_gpu_runs_the_stock_layer_without_xla() -> None:
    c = choose.choose(workload(LARGE), "gpu", 100_000)
    assert (c.kernel, c.jit_compile) == ("stock", False)
    assert "GPU" in c.reason


def test_explicit_settings_always_win() -> None:
    for shape in (SMALL, STANDARD, LARGE):
        for n in (planned(shape), 100_000):
            for device in ("cpu", "gpu"):
                c = choose.choose(workload(shape, kernel="stock", jit_compile=True), device, n)
                assert (c.kernel, c.jit_compile) == ("stock", True)
                c = choose.choose(workload(shape, kernel="fast", jit_compile=False), device, n)
                assert (c.kernel, c.jit_compile, c.unroll) == ("fast", False, True)
    c = choose.choose(workload(LARGE, jit_compile=False), "cpu", 100_000)
    assert (c.kernel, c.jit_compile) == ("fast", False)  # the faster one without XLA (1.7x stock quiet)
    c = choose.choose(
        hello().model_copy(update={"train": hello().train.model_copy(update={"jit_compile": True})}),
        "cpu",
        300,
    )
    assert c.jit_compile is True  # asked for, even where it cannot pay


def test_distribute_never_gets_xla() -> None:
    c = choose.choose(workload(LARGE, distribute="mirrored"), "cpu", 1_000_000)
    assert c.jit_compile is False
    assert "train.distribute: mirrored" in c.reason


def test_other_cells_run_their_stock_layer() -> None:
    cfg = Config.model_validate(
        {**workload(STANDARD).model_dump(mode="json"), "model": {"units": 128, "cell": "gru"}}
    )
    c = choose.choose(cfg, "cpu", 100_000)
    assert (c.kernel, c.jit_compile) == ("stock", False)


def test_a_resume_keeps_the_recorded_choice_unless_settings_are_explicit() -> None:
    from lstmcli.training.loop import resolve_choice

    recorded = choose.Choice("fast", True, 8, "chosen at the start").to_dict()
    assert resolve_choice(hello(), 300, recorded) == choose.Choice(**recorded)
    fresh = resolve_choice(config.load(HELLO, ["train.jit_compile=false"]), 300, recorded)
    assert fresh.jit_compile is False


def test_choose_imports_no_tensorflow() -> None:
    code = "import sys, lstmcli.model.choose; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_json_records_the_choice(runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_json(runner, "train", HELLO, "--out", out, "--set", "train.epochs=2")
    record = json.loads((out / "run.json").read_text())
    assert record["kernel"] == "stock" and record["kernels"] == {"lstm_0": "stock"}
    assert record["jit_compile"] is False and record["unroll"] is True
    assert record["choice"]["kernel"] == "stock" and record["choice"]["jit_compile"] is False
    assert "steps" in record["choice"]["reason"]
    assert json.loads((out / "checkpoint.json").read_text())["choice"] == record["choice"]


def test_steps_per_call_batches_small_steps_only() -> None:
    """auto: about a quarter second of steps a call (at least 4, else 1); 1 for large steps and
    train.distribute; an explicit number always wins."""
    assert choose.choose(workload(SMALL), "cpu", planned(SMALL)).steps_per_call == choose.MAX_STEPS_PER_CALL
    long_standard = choose.choose(workload(STANDARD), "cpu", 100_000).steps_per_call
    assert choose.MIN_STEPS_PER_CALL <= long_standard <= choose.MAX_STEPS_PER_CALL
    assert choose.choose(workload(SMALL), "cpu", 1_000_000).steps_per_call == choose.MAX_STEPS_PER_CALL
    assert choose.choose(workload(LARGE), "cpu", 1_000_000).steps_per_call == 1  # a call is long already
    assert choose.choose(workload(SMALL, distribute="mirrored"), "cpu", 1_000_000).steps_per_call == 1
    assert choose.choose(workload(LARGE, steps_per_call=8), "cpu", 12).steps_per_call == 8
    assert choose.choose(workload(SMALL, steps_per_call=1), "gpu", 10**6).steps_per_call == 1
