"""check-code on tutorial scripts (gradients at top level, no functions): named by --grad-vars
or a profile's grad_vars, or recognised from the loop's updates; bad input is one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "fixtures" / "coursework" / "tutorial_script"
XOR = ("--layers", "2,4,1", "--activations", "sigmoid,sigmoid", "--loss", "half_sse")
XOR_SPEC = (*XOR, "--reduction", "sum")
XOR_GRADS = "grad_hidden_weights,grad_hidden_bias,grad_output_weights,grad_output_bias"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`symbackprop check-code ARGS` from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "symbackprop", "check-code", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def statuses(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    report = json.loads(done.stdout)
    assert "error" not in report, report
    return {k: v["status"] for k, v in report["gradients"].items()}


def test_grad_vars_and_data_vars_name_the_scripts_variables() -> None:
    done = run_cli(
        str(SCRIPTS / "xor_sigmoid_derivative_from_Z.py"),
        "--json",
        *XOR_SPEC,
        *("--grad-vars", XOR_GRADS, "--data-vars", "inputs,expected_output"),
    )
    assert done.returncode == 1
    assert statuses(done) == {"W1": "wrong", "b1": "wrong", "W2": "ok", "b2": "ok"}


def test_a_profile_names_the_gradient_variables(tmp_path: Path) -> None:
    profile = tmp_path / "xor.toml"
    profile.write_text(
        f'grad_vars = "{XOR_GRADS}"\ndata_vars = "inputs,expected_output"\n'
    )
    done = run_cli(
        str(SCRIPTS / "xor_ok.py"), "--json", "--profile", str(profile), *XOR_SPEC
    )
    assert done.returncode == 0, done.stdout
    assert set(statuses(done).values()) == {"ok"}


def test_no_such_variables_is_one_line() -> None:
    done = run_cli(
        str(SCRIPTS / "xor_ok.py"), *XOR_SPEC, "--grad-vars", "dW1,db1,dW2,db2"
    )
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line and "--grad-vars" in line and "dW1" in line


def test_a_script_without_a_loop(tmp_path: Path) -> None:
    script = tmp_path / "flat.py"
    script.write_text("import numpy as np\nW1 = np.zeros((2, 2))\ndW1 = W1 * 2\n")
    done = run_cli(str(script), *XOR_SPEC, "--grad-vars", "dW1,db1,dW2,db2")
    assert done.returncode == 2
    assert "has no loop" in done.stderr and "\n" not in done.stderr.strip()


def test_a_loop_that_never_runs(tmp_path: Path) -> None:
    text = (SCRIPTS / "xor_ok.py").read_text().replace("epochs = 10000", "epochs = 0")
    script = tmp_path / "xor_zero.py"
    script.write_text(text)
    done = run_cli(str(script), "--json", *XOR_SPEC)
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert "never ran" in report["error"] and report["exit_code"] == 2


def test_a_failing_setup_is_an_error_of_the_student(tmp_path: Path) -> None:
    text = (SCRIPTS / "xor_ok.py").read_text()
    text = text.replace("lr = 0.1\n", "lr = 0.1\nopen('/tmp/escaped', 'w')\n")
    script = tmp_path / "xor_writes.py"
    script.write_text(text)
    done = run_cli(str(script), "--json", *XOR_SPEC)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert not report["ok"]
    assert {p["status"] for p in report["gradients"].values()} == {"error"}
    message = report["gradients"]["W1"][
        "message"
    ]  # refused by the sandbox, at the line
    assert "the script raised" in message and "xor_writes.py:21" in message
    assert not Path("/tmp/escaped").exists()


# deeplearning.ai's conventions written as a script: samples as columns, W (units, inputs),
# b (units, 1), a while loop, the sigmoid output with a cross-entropy averaged over m
COLUMNS = """import numpy as np

np.random.seed(3)
X = np.random.randn(2, 7)
Y = (np.random.rand(1, 7) > 0.5).astype(float)
m = X.shape[1]
W1 = np.random.randn(3, 2) * 0.5
b1 = np.random.randn(3, 1) * 0.1
W2 = np.random.randn(1, 3) * 0.5
b2 = np.zeros((1, 1))
learning_rate = 1.2
it = 0
while it < 100:
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = 1 / (1 + np.exp(-Z2))
    cost = -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m
    dZ2 = A2 - Y
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
    dW1 = np.dot(dZ1, X.T) / DIVISOR
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    W1 = W1 - learning_rate * dW1
    b1 = b1 - learning_rate * db1
    W2 = W2 - learning_rate * dW2
    b2 = b2 - learning_rate * db2
    it += 1
"""
COLUMNS_SPEC = ("--layers", "2,3,1", "--activations", "tanh,sigmoid", "--loss", "bce")


def test_columns_and_a_while_loop_are_recognised(tmp_path: Path) -> None:
    for divisor, want in (("m", "ok"), ("1", "wrong")):
        script = tmp_path / f"planar_{divisor}.py"
        script.write_text(COLUMNS.replace("DIVISOR", divisor))
        done = run_cli(str(script), "--json", *COLUMNS_SPEC, "--reduction", "mean")
        got = statuses(done)
        assert got == {"W1": want, "b1": "ok", "W2": "ok", "b2": "ok"}, done.stdout
        if want == "wrong":
            report = json.loads(done.stdout)
            assert report["gradients"]["W1"]["diagnoses"] == ["scaled"]
    human = run_cli(str(script), *COLUMNS_SPEC, "--reduction", "mean").stdout
    assert "samples as columns: X (2, m)" in human and "planar_1.py:13" in human
