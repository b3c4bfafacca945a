"""ReLU'(0) = 0, the `Z > 0` convention: in SymPy's rules, closed forms and the generated code."""

from __future__ import annotations

import numpy as np
import sympy as sp

from symbackprop.derive import HEAVISIDE_AT_ZERO, Z, apply_step_convention, derive
from symbackprop.spec import default_spec


def test_sympy_default_would_be_one_half() -> None:
    # the reason the convention must be stated: SymPy's own Heaviside(0) is 1/2
    assert sp.Heaviside(0) == sp.Rational(1, 2)
    assert apply_step_convention(sp.Heaviside(Z)).subs(Z, 0) == 0
    assert HEAVISIDE_AT_ZERO == 0


def test_relu_rule_is_zero_at_zero() -> None:
    d = derive(default_spec())
    relu = d.layers[0]
    assert relu.activation == "relu"
    assert relu.derivative.subs(Z, 0) == 0
    assert relu.derivative.subs(Z, sp.Rational(1, 10)) == 1
    assert relu.derivative.subs(Z, -sp.Rational(1, 10)) == 0


def test_closed_form_is_zero_when_the_unit_sits_at_zero() -> None:
    d = derive(default_spec())
    s = d.scalar
    # unit 1 of layer 1 gets z = 0 exactly: x = (1, 1), W1 row 1 = (1, -1), b1_1 = 0
    point = {s.x[0]: 1, s.x[1]: 1, s.y[0]: 5}
    W1, b1, W2, b2 = (s.params[k] for k in ("W1", "b1", "W2", "b2"))
    point.update(
        {W1[0, 0]: 1, W1[0, 1]: -1, b1[0]: 0, W1[1, 0]: 1, W1[1, 1]: 1, b1[1]: 1}
    )
    point.update({W2[0, 0]: 2, W2[0, 1]: 3, b2[0]: 0})
    for entry in (
        s.gradients["W1"][0, 0],
        s.gradients["W1"][0, 1],
        s.gradients["b1"][0],
    ):
        assert entry.subs(point) == 0
    assert s.gradients["b1"][1].subs(point) != 0


def test_generated_code_gives_zero_at_zero(default_trainer) -> None:
    params = {
        "W1": np.array([[1.0, -1.0], [1.0, 1.0]]),
        "b1": np.array([0.0, 1.0]),
        "W2": np.array([[2.0, 3.0]]),
        "b2": np.array([0.0]),
    }
    X, y = np.array([[1.0, 1.0]]), np.array([[5.0]])
    assert default_trainer.forward(params, X)["Z1"][0, 0] == 0.0
    g = default_trainer.gradients(params, X, y)
    assert g["W1"][0].tolist() == [0.0, 0.0]
    assert g["b1"][0] == 0.0
    assert g["b1"][1] != 0.0
