"""A softmax output layer with cross-entropy on its probabilities, as a spec choice (issue 11).

The gradients themselves are checked against PyTorch's autograd (test_autograd_reference.py)
and against the logit form (test_activations_losses.py); here each output prints the softmax
as the vector function it is, and both checkers judge code and equations written that way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from symbackprop.derive import derive, evaluate
from symbackprop.spec import make_spec

ROOT = Path(__file__).resolve().parents[1]
COURSEWORK = ROOT / "tests" / "fixtures" / "coursework" / "mnist_scratch"
NET = ["--layers", "2,3,3", "--activations", "relu,softmax", "--loss", "cross_entropy"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_the_program_outputs_probabilities_in_both_layouts() -> None:
    d = derive(
        make_spec(
            layers=(2, 3, 3), activations=("relu", "softmax"), loss="cross_entropy"
        )
    )
    rng = np.random.default_rng(0)
    params = {
        "W1": rng.normal(size=(3, 2)),
        "b1": rng.normal(size=3),
        "W2": rng.normal(size=(3, 3)),
        "b2": rng.normal(size=3),
    }
    X = rng.normal(size=(4, 2))
    y = np.eye(3)[[0, 2, 1, 1]]
    rows = evaluate.run(d.program_for("rows"), {"X": X, "y": y, **params})
    cols = evaluate.run(d.program_for("columns"), {"X": X.T, "y": y.T, **params})
    # the output by hand: softmax of each sample's logits
    z = np.maximum(X @ params["W1"].T + params["b1"], 0) @ params["W2"].T + params["b2"]
    want = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(rows["Y"], want, rtol=1e-12)
    np.testing.assert_allclose(cols["Y"], want.T, rtol=1e-12)
    np.testing.assert_allclose(rows["dZ2"], want - y, rtol=1e-12)
    assert np.isclose(rows["loss"], -np.sum(y * np.log(want)))


def test_the_documents_write_softmax_over_the_outputs(tmp_path: Path) -> None:
    done = _run("emit", "latex", "-o", str(tmp_path / "d.tex"), *NET)
    assert done.returncode == 0, done.stderr
    tex = (tmp_path / "d.tex").read_text()
    assert r"\operatorname{softmax}(z^{(2)})_{1} = \frac{e^{z^{(2)}_{1}}}" in tex
    assert r"\frac{\partial L}{\partial z^{(2)}_{k}} &= \hat{y}_{k} - y_{k}" in tex
    # no entrywise softmax derivative anywhere
    assert "NaN" not in tex and "softmax}'" not in tex
    done = _run("emit", "notebook", "-o", str(tmp_path / "n.ipynb"), *NET)
    assert done.returncode == 0, done.stderr
    cells = json.loads((tmp_path / "n.ipynb").read_text())["cells"]
    maths = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert r"\text{NaN}" not in maths and "couples the outputs" in maths


def test_the_scalar_trainer_is_refused_for_a_softmax_output(tmp_path: Path) -> None:
    done = _run(
        "emit", "trainer", "--style", "scalar", "-o", str(tmp_path / "t.py"), *NET
    )
    assert done.returncode == 2
    assert "softmax" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_check_formulas_matrix_proves_a_minus_y_and_names_the_jacobian_mistake(
    tmp_path: Path,
) -> None:
    rest = (
        "dW2 = dZ2 @ A1.T\ndb2 = np.sum(dZ2, axis=1, keepdims=True)\n"
        "dZ1 = W2.T @ dZ2 * (Z1 > 0)\ndW1 = dZ1 @ X.T\ndb1 = np.sum(dZ1, axis=1, keepdims=True)\n"
    )
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("dZ2 = A2 - Y\n" + rest)
    bad.write_text("dZ2 = (A2 - Y) * A2 * (1 - A2)\n" + rest)
    done = _run("check-formulas", str(good), *NET, "--layout", "columns")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 of 6 correct" in done.stdout
    done = _run("check-formulas", str(bad), *NET, "--layout", "columns")
    assert done.returncode == 1
    assert "✗ dZ2" in done.stdout and "fix: dZ2 = A2 - Y" in done.stdout


def test_a_per_entry_formula_cannot_call_softmax(tmp_path: Path) -> None:
    answers = tmp_path / "a.txt"
    answers.write_text("dL/db2_1 = softmax(z2_1) - y_1\n")
    done = _run("check-formulas", str(answers), *NET)
    assert done.returncode == 2
    assert "all the outputs together" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_logit_spec_names_a_forward_that_returns_probabilities() -> None:
    """The TA chose the logit form, the student's forward returns softmax(Z2): the forward
    is named for what it is, with the flags that check it (the file is right under them)."""
    done = _run(
        "check-code",
        str(COURSEWORK / "mnist_softmax_ok.py"),
        "--json",
        *("--layers", "784,10,10", "--activations", "relu,identity"),
        *("--loss", "softmax_cross_entropy", "--reduction", "mean"),
    )
    report = json.loads(done.stdout)
    assert report["forward"]["status"] == "wrong", report["forward"]
    assert report["forward"]["diagnoses"] == ["probabilities_for_logits"]
    assert "holds the probabilities" in report["forward"]["message"]


def test_a_bias_gradient_summed_to_one_number_says_so() -> None:
    done = _run(
        "check-code",
        str(COURSEWORK / "mnist_softmax_db_summed.py"),
        *("--layers", "784,10,10", "--activations", "relu,softmax"),
        *("--loss", "cross_entropy", "--reduction", "mean"),
    )
    assert done.returncode == 1
    assert "one number, as a sum without an axis gives" in done.stdout
    assert "db2 = dZ2.sum(axis=1, keepdims=True)" in done.stdout
    # the module docstring is not reported as code that was not run
    assert "not run" not in done.stdout
