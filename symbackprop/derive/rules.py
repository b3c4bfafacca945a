"""SymPy's entrywise rules: each activation's derivative and the output error of the loss.

ReLU'(0) = 0 (the `Z > 0` convention) is stated here, once: SymPy's Heaviside(0) is 1/2 unless
told otherwise, so every derivative passes through `apply_step_convention`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from ..errors import UserError
from ..spec import NetworkSpec, names, registry

HEAVISIDE_AT_ZERO = sp.Integer(0)

# Placeholders of the elementwise rules: a rule is an expression in these, applied entrywise.
Z = sp.Symbol(names.RULE_Z, real=True)
H = sp.Symbol(names.RULE_H, real=True)
YHAT = sp.Symbol(names.RULE_YHAT, real=True)
T = sp.Symbol(names.RULE_T, real=True)
W = sp.Symbol(names.RULE_W, real=True)


def apply_step_convention(expr: sp.Expr) -> sp.Expr:
    """Give every Heaviside step its value at 0 explicitly: H(0) = 0, so ReLU'(0) = 0."""
    return expr.replace(
        lambda e: isinstance(e, sp.Heaviside) and e.args[1:] != (HEAVISIDE_AT_ZERO,),
        lambda e: sp.Heaviside(e.args[0], HEAVISIDE_AT_ZERO),
    )


@dataclass(frozen=True)
class LayerRule:
    """One weight layer: Z = H_prev W^T + b, H = act(Z); `derivative` is act'(z) in z and/or h."""

    index: int
    fan_in: int
    units: int
    activation: str
    forward: sp.Expr  # act(z)
    # act'(z), rewritten in terms of h = act(z) where SymPy finds it
    derivative: sp.Expr
    vector: bool = False  # over the layer's units together (softmax): see _rule_of


def _alpha(spec: NetworkSpec) -> sp.Expr:
    return sp.Float(spec.alpha)


def in_terms_of(
    expr: sp.Expr, definition: sp.Expr, var: sp.Symbol, symbol: sp.Symbol
) -> sp.Expr:
    """Rewrite expr(var) using symbol = definition(var) where SymPy can; else return it as is.

    This is how sigmoid' becomes h(1 - h) and tanh' becomes 1 - h^2: solve definition = symbol
    for var, substitute, simplify. Piecewise derivatives (ReLU's step) stay in terms of z.
    """
    if definition == var:
        return expr.xreplace({var: symbol})
    if not expr.has(sp.Heaviside, sp.Piecewise, sp.Max):
        try:
            solutions = sp.solve(sp.Eq(definition, symbol), var)
        except (NotImplementedError, ValueError):
            solutions = []
        if len(solutions) == 1:
            out = sp.simplify(expr.subs(var, solutions[0]))
            if var not in out.free_symbols and _elementary(out):
                # imported here: it pulls in sympy.combinatorics (~30 ms) that ReLU never needs
                from sympy.codegen.rewriting import expm1_opt, log1p_opt, optimize

                return optimize(out, [expm1_opt, log1p_opt])
    if expr.has(definition):
        return expr.subs(definition, symbol)
    return expr


def _elementary(expr: sp.Expr) -> bool:
    """Whether a rewritten derivative is worth keeping: rational in h and exp, nothing else.

    A solve can go through LambertW (swish) or log (softplus, before simplification): those
    forms are no simpler than the one in z, and no printer should have to know them.
    """
    return all(isinstance(f, sp.exp) for f in expr.atoms(sp.Function))


def activation_rule(name: str, alpha: float) -> tuple[sp.Expr, sp.Expr]:
    """(act(z), act'(z)) for one activation: SymPy's derivative, in terms of h where it can."""
    return _rule_of(registry.activation(name), alpha)


@functools.lru_cache(maxsize=64)
def _rule_of(entry: registry.Activation, alpha: float) -> tuple[sp.Expr, sp.Expr]:
    """Cached by the entry itself, so a name registered again never sees an old rule.

    A vector activation (softmax) has no entrywise rule: its name applied to Z, and nan for
    the derivative, which no step takes (the output error goes through it in one step)."""
    if entry.vector is not None:
        return sp.Function(entry.name)(Z), sp.nan
    forward = entry.expr(Z, sp.Float(alpha))
    derivative = apply_step_convention(sp.diff(forward, Z))
    return forward, in_terms_of(derivative, forward, Z, H)


def layer_rule(index: int, spec: NetworkSpec) -> LayerRule:
    """Layer `index`'s rule: its activation and SymPy's derivative of it."""
    act = registry.activation(spec.activations[index - 1])
    forward, derivative = activation_rule(act.name, spec.alpha)
    return LayerRule(
        index=index,
        fan_in=spec.layers[index - 1],
        units=spec.layers[index],
        activation=act.name,
        forward=forward,
        derivative=derivative,
        vector=act.vector is not None,
    )


def _softmax_in_terms_of_p(
    d: sp.Expr, k: int, zs: list[sp.Symbol], ps: list[sp.Symbol], ts: list[sp.Symbol]
) -> sp.Expr:
    """Write a softmax cross-entropy derivative with p = softmax(z), using sum(p) = sum(y) = 1."""
    s = sp.Symbol("s", positive=True)  # the softmax denominator, sum of exp(z_j)
    for z, p in zip(zs, ps, strict=True):
        d = d.subs(sp.exp(z), p * s)
    j = (k + 1) % len(zs)  # eliminate another class with the two normalisations
    d = d.subs(ts[j], 1 - sp.Add(*[t for i, t in enumerate(ts) if i != j]))
    d = d.subs(ps[j], 1 - sp.Add(*[p for i, p in enumerate(ps) if i != j]))
    return sp.simplify(d)


def output_delta(spec: NetworkSpec) -> tuple[sp.Expr, sp.Expr]:
    """d(sample loss)/d(z_k) of the output layer, proven the same rule for every output k.

    Returns the raw derivative (in z, y; for the document) and the rule in z, yhat and y,
    where yhat is the output activation or, for a loss with a link, the prediction p = link(z).
    """
    n_out = spec.layers[-1]
    act = registry.activation(spec.activations[-1])
    loss = registry.loss(spec.loss)
    zs = [sp.Symbol(f"z_{k + 1}", real=True) for k in range(n_out)]
    yh = [sp.Symbol(f"yhat_{k + 1}", real=True) for k in range(n_out)]
    ts = [sp.Symbol(f"y_{k + 1}", real=True) for k in range(n_out)]
    if act.vector is not None:
        outputs = act.vector(zs)
    else:
        outputs = [act.expr(z, _alpha(spec)) for z in zs]
    sample_loss = loss.expr(outputs, ts)
    raw_rules, rules = [], []
    for k in range(n_out):
        d = apply_step_convention(sp.diff(sample_loss, zs[k]))
        raw_rules.append(d.xreplace({zs[k]: Z, ts[k]: T}))
        if "softmax" in (loss.link, act.name):
            d = _softmax_in_terms_of_p(d, k, zs, yh, ts)
        elif loss.link is not None:
            assert loss.link_expr is not None
            d = in_terms_of(d, loss.link_expr([zs[k]])[0], zs[k], yh[k])
        else:
            d = in_terms_of(d, outputs[k], zs[k], yh[k])
        rules.append(sp.factor_terms(d).xreplace({zs[k]: Z, yh[k]: YHAT, ts[k]: T}))
    if any(r.free_symbols - {Z, YHAT, T} for r in rules) or any(
        r != rules[0] for r in rules
    ):
        raise UserError(
            f"loss {spec.loss} with output activation {act.name}: the output error is not "
            "entrywise, which this version cannot vectorize; choose another pairing"
        )
    return raw_rules[0], rules[0]


def loss_slope(spec: NetworkSpec) -> sp.Expr | None:
    """d(sample loss)/d(yhat_k) in yhat and y, the chain rule's first factor; None for a loss
    with a link, which takes the logits rather than a prediction."""
    loss = registry.loss(spec.loss)
    if loss.link is not None:
        return None
    n_out = spec.layers[-1]
    yh = [sp.Symbol(f"yhat_{k + 1}", real=True) for k in range(n_out)]
    ts = [sp.Symbol(f"y_{k + 1}", real=True) for k in range(n_out)]
    slope = sp.diff(loss.expr(yh, ts), yh[0])
    return apply_step_convention(slope).xreplace({yh[0]: YHAT, ts[0]: T})


def penalty_rules(l2: float) -> tuple[sp.Expr, sp.Expr] | None:
    """The L2 penalty of one weight entry, l2/2 * w**2, and SymPy's derivative of it (the
    term its gradient gains); None without a penalty."""
    if not l2:
        return None
    penalty = sp.Float(l2) / 2 * W**2
    return penalty, sp.diff(penalty, W)
