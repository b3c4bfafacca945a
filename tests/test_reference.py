"""The shipped reference truth (symbackprop/data/reference_truth.json) that lets check-code run the
seed network without SymPy: it equals a fresh derivation byte for byte (update with
--update-generated), its gradients agree with finite differences of its own loss, and a check
of a seed-assignment file, correct or wrong, really imports no SymPy, and the feedback's correct
lines printed from the shipped rules equal those SymPy prints from a fresh derivation."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
from conftest import ROOT

from symbackprop.check.code import reference, truth
from symbackprop.check.code.layout import Layout
from symbackprop.check.code.result import Namer
from symbackprop.check.code.student_form import StudentForm
from symbackprop.derive import evaluate
from symbackprop.spec import default_spec, names

CORRECT = ROOT / "tests" / "fixtures" / "students" / "correct.py"
SEED = ROOT / "symbackprop" / "data" / "notebook_221_relu.txt"


def test_shipped_reference_equals_a_fresh_derivation(update_generated: bool) -> None:
    fresh = truth.reference_text(default_spec())
    if update_generated:
        reference.path().write_text(fresh, encoding="utf-8")
    shipped = reference.path().read_text(encoding="utf-8")
    assert shipped == fresh, (
        "symbackprop/data/reference_truth.json is out of date; if the change is intended, "
        "run `python -m pytest tests/test_reference.py --update-generated`"
    )


def _shipped_truth() -> truth.Truth:
    spec = truth.truth_spec(default_spec())
    shipped = reference.read_reference(spec)
    assert shipped is not None
    return truth.Truth(spec, shipped.program, shipped.unmasked, shipped=shipped)


def test_shipped_gradients_agree_with_finite_differences_of_its_loss() -> None:
    t = _shipped_truth()
    prog = t.program
    rng = np.random.default_rng(3)
    spec = t.spec
    params = {n: rng.normal(size=spec.param_shape(n)) for n in spec.param_names}
    X, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))
    inputs = {names.INPUTS: X, names.TARGETS: y}
    values = evaluate.run(prog, {**inputs, **params})
    h = 1e-6
    for name in spec.param_names:
        numeric = np.zeros_like(params[name])
        for index in np.ndindex(params[name].shape):
            moved = {k: v.copy() for k, v in params.items()}
            moved[name][index] += h
            up = evaluate.run(prog, {**inputs, **moved})["loss"]
            moved[name][index] -= 2 * h
            down = evaluate.run(prog, {**inputs, **moved})["loss"]
            numeric[index] = (up - down) / (2 * h)
        got = values[prog.grads[name]]
        assert np.allclose(got, numeric, rtol=1e-6, atol=1e-7), name


def test_shipped_rules_are_plain_data() -> None:
    """Read back, the program holds trees (tuples), not SymPy: it runs without SymPy."""
    t = _shipped_truth()
    relu = t.program.step(names.activation(1, 2)).expr
    assert relu.rule == ("max", ("num", 0.0), ("sym", names.RULE_Z))
    mask = t.program.step(names.delta(1)).expr.right  # ReLU'(z), Heaviside(z, 0)
    assert mask.rule == ("heaviside", ("sym", names.RULE_Z), ("num", 0.0))
    data = json.loads(reference.path().read_text(encoding="utf-8"))
    assert data["spec"]["layers"] == [2, 2, 1] and data["spec"]["loss"] == "half_sse"


def test_other_specs_are_derived() -> None:
    spec = truth.truth_spec(default_spec())
    assert reference.read_reference(replace(spec, reduction="mean")) is None
    assert reference.read_reference(replace(spec, layers=(2, 3, 1))) is None


def _run(path: str) -> list[str]:
    code = (
        "import sys; from symbackprop.check.code.core import run_check; "
        f"r = run_check({path!r}, sandbox='process'); "
        "print(r.report['ok'], 'sympy' in sys.modules, bool(r.formulas))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_a_check_of_the_seed_assignment_imports_no_sympy_right_or_wrong() -> None:
    assert _run(str(CORRECT)) == ["True", "False", "False"]
    # the seed notebook is wrong: its feedback quotes the correct lines, from the shipped rules
    assert _run(str(SEED)) == ["False", "False", "True"]


# layouts students use, with names as their code has them (a dict's keys, attributes)
_LAYOUTS = [
    Layout(
        (("W1", "out_in"), ("W2", "out_in")), (("b1", "flat"), ("b2", "flat")), "2d"
    ),
    Layout((("W1", "in_out"), ("W2", "in_out")), (("b1", "row"), ("b2", "row")), "1d"),
    Layout(
        (("W1", "out_in"), ("W2", "out_in")),
        (("b1", "col"), ("b2", "col")),
        "2d",
        samples="columns",
    ),
    Layout(
        (("W1", "out_in"), ("W2", "vec")),
        (("b1", "col"), ("b2", "col")),
        "1d",
        samples="columns",
        one_example=True,
    ),
]
_NAMERS = [
    Namer({}, {}, {}),
    Namer(
        {"Z1": "cache['Z1']", "H1": "cache['A1']", "Y": "A2", "X": "X", "y": "Y"},
        {"H1": "A1"},
        {"W1": "grads['dW1']", "b1": "grads['db1']", "W2": "self.dW2", "b2": "db2"},
    ),
]


def test_feedback_from_the_shipped_rules_equals_what_sympy_prints() -> None:
    from symbackprop.derive import network

    spec = truth.truth_spec(default_spec())
    d = network.derive(spec, closed_forms=False)
    fresh = truth.Truth(spec, d.program, {}, d)
    shipped = _shipped_truth()
    assert shipped.derivation is None and shipped.printed is not None
    for layout in _LAYOUTS:
        for namer in _NAMERS:
            ours, sympys = (
                StudentForm(shipped, layout, namer),
                StudentForm(fresh, layout, namer),
            )
            assert ours.lines() == sympys.lines(), (layout, namer)
            for param in spec.param_names:
                assert ours.gradient(param) == sympys.gradient(param)
            assert ours.derivative(1) == sympys.derivative(1) is not None
    # and the text fills the student's names in: ReLU' of their Z1, their error from A2 - Y
    named = StudentForm(shipped, _LAYOUTS[0], _NAMERS[1])
    assert named.derivative(1) == "(cache['Z1'] > 0)"
    assert "dZ2 = A2 - Y" in named.lines()["W2"]


def test_the_feedback_in_every_layout_prints_without_sympy() -> None:
    """The correct lines in each layout a student uses, from the shipped rules alone."""
    code = """
import sys
sys.path.insert(0, "tests")
from test_reference import _LAYOUTS, _NAMERS, _shipped_truth
from symbackprop.check.code.student_form import StudentForm
truth = _shipped_truth()
for layout in _LAYOUTS:
    for namer in _NAMERS:
        form = StudentForm(truth, layout, namer)
        form.lines(), form.gradient("W1"), form.derivative(1)
print("sympy" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]
