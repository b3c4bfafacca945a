"""The shipped reference truth (symbackprop/data/reference_truth.json) that lets check-code run the
seed network without SymPy: it equals a fresh derivation byte for byte (update with
--update-generated), its gradients agree with finite differences of its own loss, and a check
of a correct seed-assignment file really imports no SymPy while a wrong one still gets the
correct formulas."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
from conftest import ROOT

from symbackprop.check.code import reference, truth
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
    return truth.Truth(spec, *shipped)


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


def test_a_correct_check_imports_no_sympy_and_a_wrong_one_prints_the_formulas() -> None:
    assert _run(str(CORRECT)) == ["True", "False", "False"]
    # the seed notebook is wrong: its feedback quotes the correct lines, printed by SymPy
    assert _run(str(SEED)) == ["False", "True", "True"]
