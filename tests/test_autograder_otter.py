"""otter-grader grades a notebook assignment whose tests call assert_backward_correct.

The instructor's master notebook (tests/fixtures/autograder/backprop.ipynb) goes through
`otter assign`, which writes the autograder zip; `otter run` then grades two student
notebooks with it, offline and without Docker. Each student's label is first confirmed with
plain NumPy finite differences, so the scores are checked against an independent truth.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "autograder"
MASTER = FIXTURES / "backprop.ipynb"


def _require_otter() -> None:
    """Fail (never skip) when the grading framework is not installed."""
    missing = [
        name
        for name in ("otter", "ipykernel", "jupyter_client")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: the otter-grader integration test needs "
            "the test extra, `pip install -e '.[test]'`",
            pytrace=False,
        )


def _env(home: Path) -> dict[str, str]:
    """The child's environment: this checkout first on the path, Jupyter and IPython
    folders of its own (a user-level kernelspec or startup file cannot interfere)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["JUPYTER_DATA_DIR"] = str(home / "jupyter")
    env["JUPYTER_CONFIG_DIR"] = str(home / "jupyter-config")
    env["IPYTHONDIR"] = str(home / "ipython")
    return env


def _otter(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m otter ARGS` and fail with its output if it exits non-zero."""
    proc = subprocess.run(
        [sys.executable, "-m", "otter", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=_env(home),
    )
    assert proc.returncode == 0, (
        f"otter {' '.join(args)} exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc


@pytest.fixture(scope="module")
def autograder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`otter assign` on the master notebook (which also grades the solution); returns the
    autograder zip and the folder used as the children's home."""
    _require_otter()
    work = tmp_path_factory.mktemp("otter-assign")
    home = tmp_path_factory.mktemp("otter-home")
    (work / MASTER.name).write_bytes(MASTER.read_bytes())
    _otter("assign", MASTER.name, "dist", cwd=work, home=home)
    zips = sorted((work / "dist" / "autograder").glob("*.zip"))
    assert len(zips) == 1, f"expected one autograder zip, found {zips}"
    return zips[0], home


def _notebook_functions(path: Path) -> dict[str, Any]:
    """The notebook's imports and function definitions, executed in a fresh namespace
    (no otter cells, no training loop)."""
    namespace: dict[str, Any] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        kept = [
            node
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef)
            and not (isinstance(node, ast.Import) and node.names[0].name == "otter")
        ]
        module = ast.Module(body=kept, type_ignores=[])
        exec(compile(module, str(path), "exec"), namespace)
    return namespace


def _loss(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
    """Half the squared error summed, of the 2-2-1 ReLU network, in plain NumPy."""
    Z = X @ params["W1"].T + params["b1"]
    out = np.maximum(Z, 0.0) @ params["W2"].T + params["b2"]
    return float(0.5 * np.sum((out - Y) ** 2))


def _finite_differences(
    loss: Callable[[dict[str, np.ndarray]], float], params: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Central differences of `loss` for every entry of every parameter."""
    step = 1e-6
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {**params, name: value.copy()}
            minus = {**params, name: value.copy()}
            plus[name][index] += step
            minus[name][index] -= step
            grad[index] = (loss(plus) - loss(minus)) / (2 * step)
        grads[name] = grad
    return grads


def _gradient_matches(path: Path) -> dict[str, bool]:
    """Which of the notebook's gradients agree with finite differences at a random point
    where the hidden layer has both signs."""
    rng = np.random.default_rng(20240611)
    X = rng.normal(size=(6, 2))
    Y = rng.normal(size=(6, 1))
    params = {
        "W1": rng.normal(size=(2, 2)),
        "b1": rng.normal(size=2),
        "W2": rng.normal(size=(1, 2)),
        "b2": rng.normal(size=1),
    }
    student = _notebook_functions(path)
    H, Z, y_pred = student["forward"](
        params["W1"], params["W2"], params["b1"], params["b2"], X
    )
    Z_ref = X @ params["W1"].T + params["b1"]
    np.testing.assert_allclose(Z, Z_ref)
    np.testing.assert_allclose(
        y_pred, np.maximum(Z_ref, 0) @ params["W2"].T + params["b2"]
    )
    assert (Z_ref > 0).any() and (Z_ref < 0).any(), "the point must exercise the mask"
    grads = student["backward"](y_pred, Y, params["W2"], H, Z, X)
    expected = _finite_differences(lambda p: _loss(p, X, Y), params)
    return {
        name: bool(np.allclose(grad, expected[name], rtol=1e-5, atol=1e-6))
        for name, grad in zip(("W1", "W2", "b1", "b2"), grads, strict=True)
    }


def _grade(
    student: Path, autograder: tuple[Path, Path], tmp_path: Path
) -> dict[str, dict[str, Any]]:
    """`otter run` on one notebook; its results.json, one entry per question name."""
    zip_path, home = autograder
    out = tmp_path / "out"
    out.mkdir()
    _otter(
        "run",
        "--no-logo",
        "-a",
        str(zip_path),
        "-o",
        str(out),
        str(student),
        cwd=tmp_path,
        home=home,
    )
    results = json.loads((out / "results.json").read_text())
    return {test["name"]: test for test in results["tests"]}


@pytest.mark.slow
def test_otter_gives_the_correct_notebook_full_points(
    autograder: tuple[Path, Path], tmp_path: Path
) -> None:
    student = FIXTURES / "student_correct.ipynb"
    assert _gradient_matches(student) == dict.fromkeys(("W1", "W2", "b1", "b2"), True)
    scores = _grade(student, autograder, tmp_path)
    assert (scores["q1"]["score"], scores["q1"]["max_score"]) == (1, 1)
    assert (scores["q2"]["score"], scores["q2"]["max_score"]) == (2, 2), scores["q2"]
    assert "All test cases passed!" in scores["q2"]["output"]


@pytest.mark.slow
def test_otter_takes_the_backprop_points_for_a_missing_relu_mask(
    autograder: tuple[Path, Path], tmp_path: Path
) -> None:
    student = FIXTURES / "student_missing_mask.ipynb"
    matches = _gradient_matches(student)
    assert matches == {"W1": False, "W2": True, "b1": False, "b2": True}, matches
    scores = _grade(student, autograder, tmp_path)
    assert (scores["q1"]["score"], scores["q1"]["max_score"]) == (1, 1), scores["q1"]
    assert (scores["q2"]["score"], scores["q2"]["max_score"]) == (0, 2)
    output = scores["q2"]["output"]
    # both test cases: the student's functions in the kernel, and the file in the sandbox
    assert "AssertionError: check-code __main__.backward:" in output
    assert "AssertionError: check-code student_missing_mask.ipynb:" in output
    assert output.count("W1 gradient  WRONG  [missing_activation_mask]") == 2
    assert "the activation's derivative is missing" in output
    assert "correct (from the derivation): W1_grad = dZ1.T @ X" in output
    public = scores["Public Tests"]["output"]
    assert "missing_activation_mask" in public, "students see the diagnosis"
