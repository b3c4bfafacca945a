"""check-code on the coursework fixtures (issue 11): the verdict per gradient is the manifest's label.

Each supported fixture of tests/fixtures/coursework/labels.toml is checked through the command
line as a TA would run it: the network's spec (the assignment's layers, activations, loss and
reduction, and the L2 penalty's lambda, which the TA knows) and no convention flags where recognition must be flag-free
(function names, containers, layout come from the file); the table says which extra flags, if
any, each style needs. A gradient labelled ok must be ok; one labelled with a mistake must be
wrong, with the fitting diagnosis where check-code has one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "fixtures" / "coursework"
FIXTURES: dict[str, dict[str, Any]] = tomllib.loads((HERE / "labels.toml").read_text())[
    "fixture"
]

# the manifest's loss names -> the spec's (with the output activation the spec wants)
LOSSES = {"bce": "bce", "softmax_ce": "softmax_cross_entropy", "half_mse": "half_sse"}

# style -> the flags a TA passes beyond the network spec (none: recognised from the file)
STYLES: dict[str, list[str]] = {
    "dlai_2layer": [],
    "cs231n_twolayernet": [],
    "dlai_L_layer": [],
    "classes": [],
    "torch": [],
    "cs231n_layers": [],
    "tutorial_script": [],  # the loop's `W -= lr * dW` names the gradient variables
    "mnist_scratch": [],
}
# fixtures of a supported style that need what is not done yet
UNSUPPORTED: set[str] = set()

# the spec's L2 lambda for a fixture with a penalty; each course's coefficient (lambd = l2 * m,
# reg = l2 / 2) is passed to the student's function
L2 = 0.1

# the mistake -> the diagnosis check-code names for it (the others: "wrong")
DIAGNOSES = {
    "missing_1_over_m": "scaled",
    "db_without_keepdims": "wrong_shape",
    "transposed_A1": "transposed",
    "db_wrong_axis": "wrong_shape",
    "db_summed_over_all": "wrong_shape",
    "l2_factor_off_by_2": "penalty_factor",
}


def spec_flags(fx: dict[str, Any]) -> list[str]:
    """--layers/--activations/--loss/--reduction of the fixture's network."""
    net = fx["network"]
    activations = list(net["activations"])
    loss = LOSSES[net["loss"]]
    if net["loss"] == "softmax_ce" and "scores" in (
        fx.get("output_is"),
        fx.get("loss_takes"),
    ):
        activations[-1] = "identity"  # the scores are the logits
    elif (
        net["loss"] == "softmax_ce"
    ):  # a softmax output layer, its probabilities returned
        loss = "cross_entropy"
    penalty = ["--l2", str(L2)] if "penalty" in fx else []
    if "penalty" in fx and fx.get("runner") == "script":  # the script's own coefficient
        penalty = ["--l2", str(script_l2(fx["penalty"]))]
    return [
        *penalty,
        "--layers",
        ",".join(map(str, net["layers"])),
        "--activations",
        ",".join(activations),
        "--loss",
        loss,
        "--reduction",
        net["reduction"],
    ]


def script_l2(penalty: dict[str, Any]) -> float:
    """The spec's lambda a script's hard-coded coefficient means (the manifest's l2 is the
    course's name, or a number times it: `2 * reg`)."""
    factor, _, name = penalty["l2"].rpartition("*")
    assert name.strip() == penalty["course_name"], penalty
    return float(factor or 1) * penalty["value"]


def supported() -> list[str]:
    """The fixtures of the styles check-code reads, in manifest order."""
    return [
        key
        for key, fx in FIXTURES.items()
        if fx["style"] in STYLES and key not in UNSUPPORTED
    ]


def check(fx: dict[str, Any]) -> dict[str, Any]:
    """The JSON report of `symbackprop check-code` on one fixture."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "symbackprop",
        "check-code",
        str(HERE / fx["file"]),
        "--json",
        *spec_flags(fx),
        *STYLES[fx["style"]],
        # importing PyTorch in the sandbox alone can take seconds on a busy 2-core machine
        *(["--timeout", "60"] if fx["style"] == "torch" else []),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    report = json.loads(done.stdout)
    assert "error" not in report, report["error"]
    return report


@pytest.mark.parametrize("key", supported())
def test_verdict_per_gradient_is_the_label(key: str) -> None:
    fx = FIXTURES[key]
    report = check(fx)
    assert report["forward"]["status"] in ("ok", "not_checked"), report["forward"]
    for param, label in fx["labels"].items():
        got = report["gradients"][param]
        if label == "ok":
            assert got["status"] == "ok", (param, got)
            continue
        assert got["status"] == "wrong", (param, label, got)
        if label in DIAGNOSES:
            assert DIAGNOSES[label] in got["diagnoses"], (param, label, got)
    for layer in fx.get("layer_checks", []):  # each layer function on its own
        for grad, label in layer["labels"].items():
            got = report["layers"][f"{layer['backward']}: {grad}"]
            assert (got["status"] == "ok") == (label == "ok"), (layer, grad, got)
            if label in DIAGNOSES:
                assert DIAGNOSES[label] in got["diagnoses"], (layer, grad, got)
    assert report["ok"] == (fx["verdict"] == "ok")


def test_columns_feedback_is_in_the_students_convention() -> None:
    fx = FIXTURES["dlai_2layer/planar_tanh_missing_m"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "symbackprop", "check-code", str(HERE / fx["file"])]
    done = subprocess.run(
        [*cmd, *spec_flags(fx)], capture_output=True, text=True, env=env, timeout=120
    )
    assert "samples as columns: X (2, m)" in done.stdout
    assert "dW1 = dZ1 @ X.T" in done.stdout
    assert "m = X.shape[1]" in done.stdout
    assert 'cache["A1"]' in done.stdout


# a built-in profile -> a fixture it fits (the TA's alternative to flag-free recognition)
PROFILED = {
    "dlai": "dlai_2layer/planar_tanh_missing_m",
    "dlai-L-layer": "dlai_L_layer/deep_db_wrong_axis",
    "cs231n": "cs231n_twolayernet/neural_net_reg_half",
    "cs231n-layers": "cs231n_layers/layers_db_wrong_axis",
    "seed": None,
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`symbackprop check-code ARGS` from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "symbackprop", "check-code", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("name", [n for n, k in PROFILED.items() if k])
def test_built_in_profile_gives_the_same_verdicts(name: str) -> None:
    fx = FIXTURES[PROFILED[name]]  # type: ignore[index]
    done = run_cli(str(HERE / fx["file"]), "--json", "--profile", name, *spec_flags(fx))
    report = json.loads(done.stdout)
    for param, label in fx["labels"].items():
        assert (report["gradients"][param]["status"] == "ok") == (label == "ok")


def test_a_profile_that_does_not_match_is_one_line(tmp_path: Path) -> None:
    fx = FIXTURES["dlai_2layer/planar_tanh_ok"]
    done = run_cli(str(HERE / fx["file"]), "--profile", "cs231n", *spec_flags(fx))
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line and "--profile cs231n does not match" in line
    assert "'loss'" in line
    bad = tmp_path / "bad.toml"
    bad.write_text('forward = "f"\nbackward = "g"\nlayout = "rows"\n')
    done = run_cli(str(HERE / fx["file"]), "--profile", str(bad), *spec_flags(fx))
    assert done.returncode == 2 and "unknown key 'layout'" in done.stderr


def test_a_profile_file_names_the_functions(tmp_path: Path) -> None:
    fx = FIXTURES["cs231n_twolayernet/two_layer_net_2015_missing_m"]
    profile = tmp_path / "cs231n_2015.toml"
    profile.write_text(
        'forward = "two_layer_net"\nbackward = "two_layer_net"\n'
        'samples = "rows"\ntargets = "labels"\n'
    )
    done = run_cli(
        str(HERE / fx["file"]), "--json", "--profile", str(profile), *spec_flags(fx)
    )
    report = json.loads(done.stdout)
    assert report["gradients"]["W1"]["diagnoses"] == ["scaled"]
    assert not report["ok"]


def test_shipped_profiles_load() -> None:
    from symbackprop.check.code import profiles

    assert {"seed", "dlai", "dlai-L-layer", "cs231n", "cs231n-layers"} <= set(
        profiles.built_in_profiles()
    )
    assert profiles.load_profile("dlai").samples == "columns"
    assert profiles.load_profile("cs231n").targets == "labels"
    assert profiles.load_profile("cs231n-layers").layers == "cs231n"


def test_784_128_10_in_the_default_time_limit(tmp_path: Path) -> None:
    notebook = json.loads((HERE / "dlai_2layer" / "planar_tanh_ok.ipynb").read_text())
    code = "\n\n".join(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"
    )
    wide = (
        tmp_path / "wide.py"
    )  # the planar notebook's code, its 1-output assert left out
    wide.write_text(code.replace("assert A2.shape == (1, X.shape[1])", "pass"))
    done = run_cli(
        str(wide),
        "--json",
        *("--layers", "784,128,10", "--activations", "tanh,sigmoid"),
        *("--loss", "bce", "--reduction", "mean"),
    )
    report = json.loads(done.stdout)
    assert report["ok"], report


def test_a_nielsen_network_is_checked_one_example_at_a_time() -> None:
    fx = FIXTURES["classes/nielsen_network_sigmoid_prime_of_A"]
    done = run_cli(str(HERE / fx["file"]), *spec_flags(fx))
    out = done.stdout
    assert done.returncode == 1, done.stderr
    assert "one example at a time: x (3, 1), y (2, 1)" in out
    assert "probed at 12 random examples, one at a time" in out
    assert "backprop once per (x, y)" in out  # why: update_mini_batch's loop
    # the class's own names, and no sum over a batch of one
    assert "nabla_b[0] = dZ1\n" in out
    assert "(self.weights[1].T @ dZ2)" in out
    # backprop's own lists name the hidden values: activations = [x], zs = [] appended per layer
    assert "nabla_w[1] = dZ2 @ activations[1].T" in out
    assert "activations[2]*(1 - activations[2])" in out
    assert "H1" not in out and "H2" not in out
    # a single example is not a batch
    assert "first difference for one example: nabla_w[0]" in out
    assert "batch size" not in out


def test_a_profile_says_the_backward_takes_one_example(tmp_path: Path) -> None:
    fx = FIXTURES["classes/nielsen_network_ok"]
    source = (HERE / fx["file"]).read_text()
    loop = "for x, y in mini_batch:\n            delta_nabla_b, delta_nabla_w = self.backprop(x, y)"
    assert loop in source
    # the same class, called so that nothing in the file shows it takes one example
    student = tmp_path / "network.py"
    student.write_text(
        source.replace(
            loop,
            "for pair in mini_batch:\n"
            "            delta_nabla_b, delta_nabla_w = self.backprop(*pair)",
        )
    )
    batched = json.loads(run_cli(str(student), "--json", *spec_flags(fx)).stdout)
    # (5, N), not (5, 1)
    assert "wrong_shape" in batched["gradients"]["b1"]["diagnoses"]
    profile = tmp_path / "nielsen.toml"
    profile.write_text(
        'forward = "feedforward"\nbackward = "backprop"\nexamples = "one"\n'
    )
    one = run_cli(str(student), "--json", "--profile", str(profile), *spec_flags(fx))
    assert json.loads(one.stdout)["ok"], one.stdout


def test_a_class_is_named_as_it_keeps_its_values() -> None:
    fx = FIXTURES["classes/neuralnetwork_updated_W2"]
    out = run_cli(str(HERE / fx["file"]), *spec_flags(fx)).stdout
    assert "self.dW1 = X.T @ dZ1" in out  # stored on self, not a returned name
    # its attributes, not params[...]
    assert "(dZ2 @ self.W2.T) * (1 - self.a1**2)" in out
    assert "params[" not in out and "cache[" not in out
