"""The Program, the one backprop recursion: its printed NumPy runs to the values its
interpreter gives, in both layouts, and the layouts agree with each other and with finite
differences of the loss the Program itself computes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

from symbackprop.derive import derive, evaluate, rules
from symbackprop.derive import program as P
from symbackprop.printing.numpy import ProgramPrinter
from symbackprop.spec import make_spec, names, registry

SPECS = [
    dict(layers=(3, 4, 2), activations=(act, "identity"), loss=loss, reduction=red)
    for act, (loss, red) in itertools.product(
        sorted(registry.entrywise_names()),
        [("half_sse", "sum"), ("mse", "mean"), ("softmax_cross_entropy", "sum")],
    )
] + [
    dict(layers=(2, 3, 3, 1), activations=("tanh", "relu", "sigmoid")),
    dict(
        layers=(2, 3, 1),
        activations=("leaky_relu", "identity"),
        loss="bce_with_logits",
        reduction="mean",
    ),
]


def _point(spec: object, rng: np.random.Generator, n: int = 5) -> dict[str, np.ndarray]:
    params = {k: rng.normal(size=spec.param_shape(k)) for k in spec.param_names}  # type: ignore[attr-defined]
    X = rng.normal(size=(n, spec.layers[0]))  # type: ignore[attr-defined]
    k = spec.layers[-1]  # type: ignore[attr-defined]
    targets = registry.loss(spec.loss).targets  # type: ignore[attr-defined]
    if targets == "one_hot":
        y = np.eye(k)[rng.integers(0, k, size=n)]
    elif targets == "binary":
        y = rng.integers(0, 2, size=(n, k)).astype(float)
    else:
        y = rng.normal(size=(n, k))
    return {names.INPUTS: X, names.TARGETS: y, **params}


def _run_printed(prog: P.Program, values: dict[str, np.ndarray], n: int) -> dict:
    """Execute the printed statements (our own output, in this test only) step by step."""
    printer = ProgramPrinter(prog.layout)
    env: dict[str, object] = {"np": np, "n": n, **values}
    for step in prog.steps:
        exec(printer.statement(step), env)
    return env


@pytest.mark.parametrize("fields", SPECS, ids=lambda f: "-".join(map(str, f.values())))
def test_printed_numpy_equals_the_interpreter_in_both_layouts(fields: dict) -> None:
    spec = make_spec(**fields)
    d = derive(spec, closed_forms=False)
    inputs = _point(spec, np.random.default_rng(1))
    rows = evaluate.run(d.program_for("rows"), inputs)
    columns_in = {
        k: (v.T if v.ndim == 2 and k in "Xy" else v) for k, v in inputs.items()
    }
    columns = evaluate.run(d.program_for("columns"), columns_in)
    for prog, values, transpose in (
        (d.program_for("rows"), rows, False),
        (d.program_for("columns"), columns, True),
    ):
        start = inputs if not transpose else columns_in
        printed = _run_printed(prog, start, len(inputs["X"]))
        for step in prog.steps:
            np.testing.assert_allclose(
                printed[step.name], values[step.name], rtol=1e-12
            )
    for (
        step
    ) in d.program.steps:  # columns is rows transposed; vectors and the loss agree
        a, b = rows[step.name], columns[step.name]
        b = b.T if np.ndim(b) == 2 and step.role not in (P.GRAD_W,) else b
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=step.name)


@pytest.mark.parametrize(
    "fields", SPECS[::4], ids=lambda f: "-".join(map(str, f.values()))
)
def test_the_programs_gradients_are_the_slope_of_its_loss(fields: dict) -> None:
    """Finite differences of the Program's own loss step, along a random direction."""
    spec = make_spec(**fields)
    prog = derive(spec, closed_forms=False).program
    rng = np.random.default_rng(7)
    inputs = _point(spec, rng)
    out = evaluate.run(prog, inputs)
    direction = {k: rng.normal(size=np.shape(inputs[k])) for k in spec.param_names}
    eps = 1e-6

    def loss_at(t: float) -> float:
        moved = {
            k: v + t * direction[k] if k in direction else v for k, v in inputs.items()
        }
        return evaluate.run(prog, moved)[prog.loss.name]

    numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    analytic = sum(float(np.sum(out[prog.grads[k]] * direction[k])) for k in direction)
    assert numeric == pytest.approx(analytic, rel=1e-5, abs=1e-8)


def test_relu_derivative_is_zero_at_zero_in_the_interpreter() -> None:
    _, derivative = rules.activation_rule("relu", 0.01)
    z = np.array([-1.0, 0.0, 1.0])
    assert evaluate.numeric(derivative, {rules.Z: z}).tolist() == [0.0, 0.0, 1.0]


def test_numeric_reads_what_sympy_can_write() -> None:
    x = sp.Symbol("x", real=True)
    v = np.array([-2.0, 0.5, 3.0])
    only_positive = sp.Piecewise((x, x > 0))  # no branch for x <= 0: undefined there
    assert np.isnan(evaluate.numeric(only_positive, {x: v})[0])
    assert evaluate.numeric(only_positive, {x: v})[2] == 3.0
    both = sp.Piecewise((1, sp.And(x > 0, x < 1)), (0, True))
    assert evaluate.numeric(both, {x: v}).tolist() == [0.0, 1.0, 0.0]
    assert evaluate.numeric(sp.pi * x, {x: v})[2] == pytest.approx(3 * np.pi)
    assert evaluate.numeric(sp.sign(x), {x: v}).tolist() == [-1.0, 1.0, 1.0]
    assert evaluate.numeric(sp.cosh(x), {x: v})[1] == pytest.approx(np.cosh(0.5))
