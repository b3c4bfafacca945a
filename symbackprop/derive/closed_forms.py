"""SymPy's closed-form gradient of every parameter entry, for one sample, and their cost.

The closed forms are `sympy.diff` of the loss written out in x, y and the parameters. Their
readable forms (in z, h, yhat) come from running the derivation's Program on symbols.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..spec import NetworkSpec, names, registry
from . import evaluate
from .program import Program
from .rules import LayerRule, Z, activation_rule, apply_step_convention

# Past this many parameters, or this closed-form cost, the scalar closed forms are too big to be
# worth having: only the vectorized route is kept, and its rules are proven on a narrow proxy of
# the same network. The cost counts how the nested forward expression grows: one gradient entry
# is about as big as the output's expression tree (the product of the widths before the output
# layer), and there is one entry per parameter per output.
SCALAR_LIMIT = 300
SCALAR_COST_LIMIT = 20_000
# Up to this closed-form cost the vectorized form is proven equal to the closed forms
# symbolically (expand of the difference is 0); beyond it, at random points (proof.py).
SYMBOLIC_PROOF_COST = 2_500
PROXY_WIDTH = 2


@dataclass(frozen=True)
class ScalarForms:
    """Per-sample symbols, forward pass and SymPy's closed-form gradient of every parameter."""

    x: list[sp.Symbol]
    y: list[sp.Symbol]
    params: dict[str, sp.Matrix]  # W1 -> Matrix of W1_i_j symbols, b1 -> column of b1_i
    z: list[list[sp.Symbol]]  # z[l-1][i]: symbol of unit i's pre-activation in layer l
    h: list[list[sp.Symbol]]  # h[l-1][i]: its activation (yhat_k for the output layer)
    # z/h symbol -> its expression in x and the params
    definitions: dict[sp.Symbol, sp.Expr]
    loss: sp.Expr  # one sample's loss, in x, y and the params
    gradients: dict[str, sp.Matrix]  # closed forms, in x, y and the params
    # the same, written with z, h and yhat where they appear
    readable: dict[str, sp.Matrix]


def _symbols(made: list[str]) -> list[sp.Symbol]:
    return [sp.Symbol(n, real=True) for n in made]


def scalar_forms(
    spec: NetworkSpec, rules: tuple[LayerRule, ...], program: Program
) -> ScalarForms:
    """Symbols for one sample, the forward pass, the loss, and `diff` for every parameter."""
    depth = len(rules)
    x = _symbols([names.input_entry(j) for j in range(1, spec.layers[0] + 1)])
    y = _symbols([names.target_entry(k) for k in range(1, spec.layers[-1] + 1)])
    params: dict[str, sp.Matrix] = {}
    zsyms: list[list[sp.Symbol]] = []
    hsyms: list[list[sp.Symbol]] = []
    definitions: dict[sp.Symbol, sp.Expr] = {}
    a: list[sp.Expr] = list(x)
    for rule in rules:
        k, units = rule.index, range(1, rule.units + 1)
        W = sp.Matrix(
            [
                _symbols(
                    [names.weight_entry(k, i, j) for j in range(1, rule.fan_in + 1)]
                )
                for i in units
            ]
        )
        b = sp.Matrix(_symbols([names.bias_entry(k, i) for i in units]))
        params[names.weight(k)], params[names.bias(k)] = W, b
        zl = [
            sp.Add(*[W[i, j] * a[j] for j in range(rule.fan_in)], b[i])
            for i in range(rule.units)
        ]
        vector = registry.activation(rule.activation).vector
        hl = vector(zl) if vector else [rule.forward.xreplace({Z: zi}) for zi in zl]
        zs = _symbols([names.z_entry(k, i) for i in units])
        hs = _symbols([names.h_entry(k, i, depth) for i in units])
        definitions.update(zip(zs, zl, strict=True))
        definitions.update(zip(hs, hl, strict=True))
        zsyms.append(zs)
        hsyms.append(hs)
        a = hl
    loss_entry = registry.loss(spec.loss)
    loss = loss_entry.expr(a, y)
    if loss_entry.link_expr is not None:  # the prediction p = link(z), named yhat_k
        zl_last = [definitions[s] for s in zsyms[-1]]
        definitions.update(zip(hsyms[-1], loss_entry.link_expr(zl_last), strict=True))
    gradients = {
        name: M.applyfunc(lambda p: apply_step_convention(sp.diff(loss, p)))
        for name, M in params.items()
    }
    readable = readable_forms(program, x, y, params, zsyms, hsyms)
    return ScalarForms(
        x, y, params, zsyms, hsyms, definitions, loss, gradients, readable
    )


def readable_forms(
    program: Program,
    x: list[sp.Symbol],
    y: list[sp.Symbol],
    params: dict[str, sp.Matrix],
    zsyms: list[list[sp.Symbol]],
    hsyms: list[list[sp.Symbol]],
) -> dict[str, sp.Matrix]:
    """Every closed form written with the intermediates z, h and yhat, for reading.

    It is the Program's backward pass run on one sample with symbols for the stored values,
    e.g. dL/dW1_1_2 = W2_1_1*x_2*(yhat_1 - y_1)*step(z1_1); substituting the definitions of
    z, h and yhat gives SymPy's closed form back (the proof checks that).
    """
    row = sp.Matrix.transpose if program.layout == "rows" else (lambda m: m)
    values: dict[str, sp.Matrix] = {
        names.INPUTS: row(sp.Matrix(x)),
        names.TARGETS: row(sp.Matrix(y)),
        **params,
    }
    for k, (zs, hs) in enumerate(zip(zsyms, hsyms, strict=True), start=1):
        values[names.pre_activation(k)] = row(sp.Matrix(zs))
        values[names.activation(k, program.depth)] = row(sp.Matrix(hs))
    if program.prediction != names.OUTPUTS:
        values[program.prediction] = row(sp.Matrix(hsyms[-1]))
    out = evaluate.run(program, values, backend="sympy", steps=program.backward)
    return {param: out[step] for param, step in program.grads.items()}


def closed_form_cost(spec: NetworkSpec) -> int:
    """A size estimate of all closed forms: parameters x outputs x the output's tree size.

    A unit's expression holds its fan-in copies of the layer below, each as many times as the
    activation uses z (leaky_relu's alpha z + (1 - alpha) relu(z) uses it twice; softmax's
    output reads every z of its layer).
    """
    size = 1
    for i, name in enumerate(spec.activations):
        uses = list(sp.preorder_traversal(activation_rule(name, spec.alpha)[0])).count(
            Z
        )
        if registry.activation(name).vector:
            uses *= spec.layers[i + 1]  # each output reads every unit's z
        size = spec.layers[i] * (size + 1) * (uses if i else 1)
    return spec.param_count * spec.layers[-1] * size


def keeps_closed_forms(spec: NetworkSpec) -> bool:
    """Whether the scalar closed forms are derived, or only the vectorized route is kept."""
    return (
        spec.param_count <= SCALAR_LIMIT and closed_form_cost(spec) <= SCALAR_COST_LIMIT
    )
