"""check-code's layer-level checks (issue 11, item 4): each layer function of a course's layer
API (CS231n's affine_/relu_backward, deeplearning.ai's linear_/relu_backward) on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "fixtures" / "coursework"
LAYERS = HERE / "cs231n_layers" / "layers_ok.py"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`symbackprop check-code ARGS` from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "symbackprop", "check-code", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def layers_py(tmp_path: Path, relu_backward: str = "") -> Path:
    """The fixture's layers.py part alone (no network), relu_backward's body replaced."""
    src = LAYERS.read_text()
    src = src[: src.index("def affine_relu_forward")]
    if relu_backward:
        src = src.replace("    dx = dout * (x > 0)\n", f"    {relu_backward}\n")
    path = tmp_path / "layers.py"
    path.write_text(src)
    return path


def test_a_file_of_layer_functions_alone_is_checked(tmp_path: Path) -> None:
    done = run_cli(str(layers_py(tmp_path)), "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, report
    assert report["gradients"] == {} and report["forward"]["status"] == "not_checked"
    assert set(report["layers"]) == {
        "affine_forward: out",
        "affine_backward: dx",
        "affine_backward: dw",
        "affine_backward: db",
        "relu_forward: out",
        "relu_backward: dx",
    }
    assert all(p["status"] == "ok" for p in report["layers"].values())
    assert report["ok"]


def test_relu_derivative_at_zero_is_the_left_one(tmp_path: Path) -> None:
    path = layers_py(tmp_path, "dx = dout * (x >= 0)")
    done = run_cli(str(path))
    assert done.returncode == 1
    line = next(
        x for x in done.stdout.splitlines() if x.startswith("relu_backward: dx")
    )
    assert line.split()[-2:] == ["WRONG", "[wrong]"]
    assert "only where the input is exactly 0" in done.stdout


def test_a_mistake_in_a_layer_is_named_by_the_layer(tmp_path: Path) -> None:
    path = layers_py(tmp_path, "dx = dout * (x > 0) * 2")
    report = json.loads(run_cli(str(path), "--json").stdout)
    got = report["layers"]["relu_backward: dx"]
    assert got["status"] == "wrong" and got["diagnoses"] == ["scaled"]
    assert report["layers"]["affine_backward: dw"]["status"] == "ok"
    assert not report["ok"]


def test_deeplearning_ai_layers_are_recognised_without_flags() -> None:
    done = run_cli(
        str(HERE / "dlai_L_layer" / "deep_missing_m.py"),
        "--json",
        *("--layers", "4,6,4,1", "--activations", "relu,relu,sigmoid"),
        *("--loss", "bce", "--reduction", "mean"),
    )
    layers = json.loads(done.stdout)["layers"]
    assert layers["linear_backward: dA_prev"]["status"] == "ok"
    assert layers["linear_backward: dW"]["diagnoses"] == ["scaled"]
    assert "m (the batch size) times" in layers["linear_backward: dW"]["message"]
    assert layers["relu_backward: dZ"]["status"] == "ok"


def test_a_layers_profile_that_does_not_match_is_one_line(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        'forward = "L_model_forward"\nbackward = "L_model_backward"\nlayers = "cs231n"\n'
    )
    done = run_cli(
        str(HERE / "dlai_L_layer" / "deep_ok.ipynb"), "--profile", str(profile)
    )
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line and "affine_backward" in line
