"""check-code's truth is the derivation's Program: no trainer is built, nothing printed is run,
and the mistake models and the correct formulas come from the same Program."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbackprop.check.code import view
from symbackprop.check.code.layout import Layout
from symbackprop.check.code.result import Namer
from symbackprop.check.code.student_form import StudentForm
from symbackprop.check.code.truth import (
    forward_with_column_bias,
    make_probes,
    probes_for,
    truth_for,
)
from symbackprop.derive import evaluate
from symbackprop.spec import default_spec, make_spec

SEED = Path(__file__).parent / "fixtures" / "students" / "seed_notebook_221_relu.txt"
CHECK_CODE = Path(__file__).parent.parent / "symbackprop" / "check" / "code"

ISOLATION = """
import json, subprocess, sys
started = []
real_popen = subprocess.Popen.__init__
def popen(self, args, *a, **k):
    started.append([str(v) for v in args])
    real_popen(self, args, *a, **k)
subprocess.Popen.__init__ = popen
from symbackprop.check import check_code
report = check_code(sys.argv[1])
print(json.dumps({
    "ok": report["ok"],
    "modules": sorted(m for m in sys.modules
                      if m.split(".")[0] in ("jinja2", "ruff", "markupsafe")
                      or m.startswith("symbackprop.emit")),
    "started": started,
}))
"""


def test_check_code_builds_no_trainer_and_starts_only_the_sandbox() -> None:
    out = subprocess.run(
        [sys.executable, "-c", ISOLATION, str(SEED)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["ok"] is False  # the seed's bugs are found
    assert seen["modules"] == []  # no jinja2, ruff or symbackprop.emit
    (child,) = seen["started"]  # one subprocess: the sandbox child, no ruff
    assert child[-1].endswith("runner.py")  # bwrap ... -- python -I -S -B runner.py
    if child[0] == shutil.which("prlimit"):  # the hard limits, then exec of the sandbox
        child = child[child.index("--") + 1 :]
    assert child[0] in (shutil.which("bwrap"), view.interpreter())


def test_nothing_printed_is_evaluated_or_patched() -> None:
    for path in CHECK_CODE.glob("*.py"):
        # they run the student's own code, in the sandbox child
        if path.name in ("runner.py", "sandbox.py", "script_adapter.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for word in ("eval(", "exec(", "lambdify", "build_trainer", "jinja2"):
            assert word not in text, f"{path.name} uses {word!r}"
        if path.name not in ("bind.py", "load.py"):  # they read the student's names
            assert "import re\n" not in text, f"{path.name} patches text with regexes"


def _squared_error(spec, pred: np.ndarray, y: np.ndarray) -> float:
    total = np.sum((pred - y) ** 2) * (
        0.5 if spec.loss == "half_sse" else 1 / y.shape[1]
    )
    return total / (len(y) if spec.reduction == "mean" else 1)


@pytest.mark.parametrize(
    "spec",
    [
        default_spec(),
        make_spec(layers=(3, 4, 3, 2), activations=("tanh", "sigmoid", "identity")),
        make_spec(
            layers=(2, 3, 3),
            activations=("relu", "identity"),
            loss="mse",
            reduction="mean",
        ),
    ],
)
def test_truth_matches_finite_differences_and_the_mask_models_differ(spec) -> None:
    truth = truth_for(spec)
    probe = make_probes(truth)[0]
    prog = truth.program

    def loss(params: dict[str, np.ndarray]) -> float:
        inputs = {"X": probe.X, "y": probe.y, **params}
        values = evaluate.run(prog, inputs, steps=prog.forward)
        return _squared_error(spec, values[prog.prediction], probe.y)

    eps = 1e-6
    for name, value in probe.params.items():
        up, down = value.copy(), value.copy()
        up.reshape(-1)[0] += eps
        down.reshape(-1)[0] -= eps
        slope = (
            loss({**probe.params, name: up}) - loss({**probe.params, name: down})
        ) / (2 * eps)
        assert probe.grads[name].reshape(-1)[0] == pytest.approx(
            slope, rel=1e-5, abs=1e-8
        )
    unmasked = probe.no_mask[tuple(range(1, spec.depth))]
    last = f"W{spec.depth}"
    assert not np.allclose(unmasked["W1"], probe.grads["W1"])
    assert np.allclose(unmasked[last], probe.grads[last])  # no act' below the output


def test_per_sample_bias_is_the_forward_with_a_column_bias() -> None:
    truth = truth_for(default_spec())
    probes = make_probes(truth)
    square = next(p for p in probes if p.n == 2)
    other = next(p for p in probes if p.n == 3)
    model = square.per_sample_bias[(1,)]
    assert model is not None
    b1 = square.params["b1"]
    expected = square.X @ square.params["W1"].T + b1[:, None]
    assert np.allclose(model["Z1"], expected)
    assert other.per_sample_bias[(1,)] is None  # NumPy raises for (3, 2) + (2, 1)
    inputs = {"X": square.X, "y": square.y, **square.params}
    assert forward_with_column_bias(truth.program, inputs, ())["Y"] == pytest.approx(
        square.forward["Y"]
    )


def _form(layout: Layout, **names: str) -> StudentForm:
    return StudentForm(truth_for(default_spec()), layout, Namer(names, {}, {}))


def test_correct_lines_are_printed_from_the_program_in_the_students_layout() -> None:
    in_out = Layout(
        (("W1", "in_out"), ("W2", "in_out")), (("b1", "row"), ("b2", "row")), "2d"
    )
    lines = _form(in_out, H1="A1").lines()
    assert lines["forward"][0] == "Z1 = X @ W1 + b1"
    assert lines["W1"] == [
        "dZ2 = Y - y",
        "dZ1 = (dZ2 @ W2.T) * (Z1 > 0)",
        "gW1 = X.T @ dZ1",
    ]
    assert lines["W2"][-1] == "gW2 = A1.T @ dZ2"
    assert lines["b1"][-1] == "gb1 = dZ1.sum(axis=0, keepdims=True)"
    columns = Layout(
        (("W1", "out_in"), ("W2", "vec")), (("b1", "col"), ("b2", "flat")), "1d"
    )
    lines = _form(columns, Y="y_pred", y="y_true").lines()
    assert lines["forward"] == [
        "Z1 = X @ W1.T + b1.T",
        "H1 = np.maximum(Z1, 0)",
        "Z2 = H1 @ W2[:, None] + b2",
        "y_pred = Z2.ravel()",
    ]
    assert lines["b1"] == [
        "dZ2 = (y_pred - y_true)[:, None]",
        "dZ1 = (dZ2 @ W2[None, :]) * (Z1 > 0)",
        "gb1 = dZ1.sum(axis=0).reshape(-1, 1)",
    ]
    assert lines["W2"][-1] == "gW2 = (dZ2.T @ H1).ravel()"


def test_a_runs_probe_points_are_made_once_and_cannot_be_changed() -> None:
    """A batch's submissions share its points: the same seed gives the same (read-only) probes;
    another seed gives new ones, equal to make_probes'."""
    truth = truth_for(default_spec())
    first = probes_for(truth, 11)
    assert probes_for(truth, 11) is first
    for probe in first:
        with pytest.raises(ValueError):
            probe.params["W1"][0, 0] = 1.0
        with pytest.raises(ValueError):
            probe.grads["W1"] += 1.0
    other = probes_for(truth, 12)
    assert other is not first
    fresh = make_probes(truth, 12)
    assert all(np.array_equal(a.X, b.X) for a, b in zip(other, fresh, strict=True))
