"""Smoke test of benchmarks/bench_trainer.py: it runs, checks correctness, writes its JSON.

No timing is asserted here: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_trainer.py"
STYLES = ("matrix", "scalar")


def _bench_module() -> types.ModuleType:
    """benchmarks/bench_trainer.py imported as a module (it is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_trainer", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_trainer"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """One --quick run on the seed's size with the fewest rounds: (JSON report, stdout)."""
    out = tmp_path_factory.mktemp("bench") / "out.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--sizes",
            "2-2-1:2",
            "--rounds",
            "2",
            "--min-time-ms",
            "1",
            "--styles",
            ",".join(STYLES),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.slow
def test_quick_run_writes_the_expected_report(quick_run: tuple[dict, str]) -> None:
    report, stdout = quick_run
    assert report["schema"] == "symbackprop-bench/1"
    assert report["quick"] is True
    assert report["correctness_passed"] is True
    assert {"settings", "environment", "sizes", "startup", "targets"} <= set(report)
    (size,) = report["sizes"]
    assert size["size"] == "2-2-1:2" and size["layers"] == [2, 2, 1] and size["n"] == 2
    assert size["check"]["passed"] is True
    assert size["check"]["results"], "the correctness pre-check compared nothing"
    comps = size["competitors"]
    for cid in ("hand_numpy", "hand_numpy_prealloc", "gemm_floor"):
        assert comps[cid]["status"] == "ok", comps[cid]
    for cid, entry in comps.items():
        assert entry["status"] in ("ok", "skipped"), (cid, entry)
        if entry["status"] == "ok":
            assert entry["median_us"] > 0 and entry["min_us"] > 0, cid
            assert set(entry["ratio"]) == {
                "hand",
                "prealloc",
                "gemm",
                "jax",
                "torch",
                "hand32",
                "f64",
            }
            assert entry["blas"], cid  # which BLAS it ran on
            assert entry["ratio"]["hand"] is not None
        else:
            assert entry["reason"], f"{cid} skipped without a reason"
    # float32 rows: the float32 trainer and hand float32 NumPy, checked and timed
    for cid in ("hand_numpy_f32", "generated[matrix_float32].sgd_step"):
        assert comps[cid]["status"] == "ok", comps[cid]
    extras = ("jax_jit", "jax_fori_loop", "torch_autograd", "torch_hand")
    for optional in extras:  # the optional `bench` extra
        assert comps[optional]["status"] == "ok" or comps[optional]["reason"]
        if comps[optional]["status"] == "ok":
            assert size["check"]["results"][optional]["ok"] is True


@pytest.mark.slow
def test_quick_run_reports_each_style_or_why_not(quick_run: tuple[dict, str]) -> None:
    report, stdout = quick_run
    (size,) = report["sizes"]
    for style in STYLES:
        build = size["styles"][style]
        row = size["competitors"][f"generated[{style}].sgd_step"]
        if build["status"] == "ok":
            assert row["median_us"] > 0
            assert size["competitors"][f"generated[{style}].train"]["median_us"] > 0
            assert size["check"]["results"][f"generated[{style}].sgd_step"]["ok"]
        else:
            assert build["status"] == "skipped" and build["reason"], build
            assert row["status"] == "skipped" and row["reason"]
        assert f"generated[{style}] sgd_step" in stdout


@pytest.mark.slow
def test_quick_run_reports_startup_and_targets(quick_run: tuple[dict, str]) -> None:
    report, stdout = quick_run
    startup = report["startup"]
    assert startup["build"]["median_s"] is not None, startup["build"]["errors"]
    assert set(startup["end_to_end"]["median_ms"]) == {
        "trainer",
        "import_numpy",
        "import_trainer",
        "python_pass",
    }
    assert isinstance(startup["imports"]["trainer_import"]["pass"], bool)
    assert isinstance(startup["imports"]["cli_help"]["pass"], bool)
    assert set(startup["derive"]) == {"784-64-10", "784-256-10", "784-1024-10"}
    assert report["targets"]
    for t in report["targets"]:
        # "noisy": a missed target whose samples spread too far (bench_trainer._mark_noisy)
        assert t["status"] in ("met", "missed", "noisy", "n/a"), t
    assert "== targets" in stdout


def test_the_pre_check_rejects_a_wrong_competitor() -> None:
    bench = _bench_module()
    size = bench.Size((3, 4, 2), 5)
    p0, X, y = bench.make_problem(size)
    lr = size.lr
    ref_loss, ref_grads = bench.hand_loss_and_gradients(p0, X, y)

    def wrong(p: dict, X: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        loss, g = bench.hand_loss_and_gradients(p, X, y)
        return loss, {**g, "b1": g["b1"] * (1 + 1e-6)}  # a tiny error in one gradient

    def wrong_step(p: dict) -> None:
        _, g = wrong(p, X, y)
        for name in p:
            p[name] -= lr * g[name]

    comps = bench.hand_competitors(p0, X, y, lr)
    comps.append(
        bench._numpy_competitor(
            "wrong",
            "wrong",
            "hand",
            p0,
            bench.steps(wrong_step),
            lambda p: wrong(p, X, y),
        )
    )
    check = bench.check_competitors(comps, ("hand_numpy", ref_loss, ref_grads), p0, lr)
    assert check["passed"] is False
    assert check["results"]["wrong"]["ok"] is False
    assert check["results"]["hand_numpy_prealloc"]["ok"] is True
    assert comps[-1].status == "failed" and "disagrees" in comps[-1].reason


def test_sizes_are_parsed_and_bad_ones_refused() -> None:
    bench = _bench_module()
    sizes = bench.parse_sizes("2-2-1:2, 784-256-10:256")
    assert [s.key for s in sizes] == ["2-2-1:2", "784-256-10:256"]
    for bad in ("2-2:2", "2-2-1", "a-b-c:1", "2-0-1:4", ""):
        with pytest.raises(Exception, match="size|sizes"):
            bench.parse_sizes(bad)
