"""Derive a network's gradients with SymPy: scalar closed forms and per-layer vectorized rules.

Nothing here is typed in by hand: every derivative is `sympy.diff` of the spec's forward pass and
loss. The vectorized (matrix) rules are built from the same elementwise derivatives and proven equal
to the scalar closed forms before anything is emitted (see `prove_symbolic` and verify.py).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace

import sympy as sp
from sympy.codegen.rewriting import expm1_opt, log1p_opt, optimize

from . import activations, losses
from .errors import UserError
from .spec import NetworkSpec, make_spec

# ReLU'(0) = 0, the `Z > 0` convention. SymPy's Heaviside(0) is 1/2 unless told otherwise, so
# every derivative passes through `apply_step_convention`, which states the value at 0.
HEAVISIDE_AT_ZERO = sp.Integer(0)

# Past this many parameters, or this closed-form cost, the scalar closed forms are too big to be
# worth having: only the vectorized route is kept, and its rules are proven on a narrow proxy of
# the same network. The cost counts how the nested forward expression grows: one gradient entry
# is about as big as the output's expression tree (the product of the widths before the output
# layer), and there is one entry per parameter per output.
SCALAR_LIMIT = 300
SCALAR_COST_LIMIT = 20_000
# Up to this closed-form cost the vectorized form is proven equal to the closed forms
# symbolically (expand of the difference is 0); beyond it, at random points (verify.py).
SYMBOLIC_PROOF_COST = 2_500
PROXY_WIDTH = 2

# Placeholders of the elementwise rules: a rule is an expression in these, applied entrywise.
Z = sp.Symbol("z", real=True)  # a pre-activation
H = sp.Symbol(
    "h", real=True
)  # the activation's value at z (stored by the forward pass)
YHAT = sp.Symbol("yhat", real=True)  # a network output
T = sp.Symbol("y", real=True)  # its target


class DerivationError(UserError):
    """The vectorized form disagrees with SymPy's closed form: a bug in symbackprop."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"internal check failed: {message}; please report this", exit_code=4
        )


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
    derivative: (
        sp.Expr
    )  # act'(z), rewritten in terms of h = act(z) where SymPy finds it


@dataclass(frozen=True)
class ScalarForms:
    """Per-sample symbols, forward pass and SymPy's closed-form gradient of every parameter."""

    x: list[sp.Symbol]
    y: list[sp.Symbol]
    params: dict[str, sp.Matrix]  # W1 -> Matrix of W1_i_j symbols, b1 -> column of b1_i
    z: list[list[sp.Symbol]]  # z[l-1][i]: symbol of unit i's pre-activation in layer l
    h: list[list[sp.Symbol]]  # h[l-1][i]: its activation (yhat_k for the output layer)
    definitions: dict[
        sp.Symbol, sp.Expr
    ]  # z/h symbol -> its expression in x and the params
    loss: sp.Expr  # one sample's loss, in x, y and the params
    gradients: dict[str, sp.Matrix]  # closed forms, in x, y and the params
    readable: dict[
        str, sp.Matrix
    ]  # the same, written with z, h and yhat where they appear


@dataclass(frozen=True)
class Derivation:
    """Everything the printers and the checker need, derived once from a spec."""

    spec: NetworkSpec
    layers: tuple[LayerRule, ...]
    output_delta: sp.Expr  # d(sample loss)/d z_L, entrywise, in z, yhat and y
    scalar: ScalarForms | None  # None past SCALAR_LIMIT (vectorized route only)
    proof: str  # how the vectorized form was proven (completed by verify.py)
    output_delta_raw: sp.Expr = sp.Integer(
        0
    )  # the same before SymPy simplified it, in z, y
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def route(self) -> str:
        """'scalar+vectorized' when closed forms are kept, else 'vectorized'."""
        return "scalar+vectorized" if self.scalar is not None else "vectorized"


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
            if var not in out.free_symbols and not out.has(sp.log):
                return optimize(out, [expm1_opt, log1p_opt])
    if expr.has(definition):
        return expr.subs(definition, symbol)
    return expr


@functools.lru_cache(maxsize=64)
def activation_rule(name: str, alpha: float) -> tuple[sp.Expr, sp.Expr]:
    """(act(z), act'(z)) for one activation: SymPy's derivative, in terms of h where it can."""
    forward = activations.get(name).expr(Z, sp.Float(alpha))
    derivative = apply_step_convention(sp.diff(forward, Z))
    return forward, in_terms_of(derivative, forward, Z, H)


def closed_form_cse(
    scalar: ScalarForms, param_names: list[str]
) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
    """Common subexpressions over every closed-form gradient entry, in parameter order."""
    flat = [g for name in param_names for g in scalar.gradients[name]]
    return sp.cse(flat, symbols=sp.numbered_symbols("t"), optimizations="basic")


def _rule(index: int, spec: NetworkSpec) -> LayerRule:
    act = activations.get(spec.activations[index - 1])
    forward, derivative = activation_rule(act.name, spec.alpha)
    return LayerRule(
        index=index,
        fan_in=spec.layers[index - 1],
        units=spec.layers[index],
        activation=act.name,
        forward=forward,
        derivative=derivative,
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


def _output_delta(spec: NetworkSpec) -> tuple[sp.Expr, sp.Expr]:
    """d(sample loss)/d(z_k) of the output layer, proven the same rule for every output k.

    Returns the raw derivative (in z, y; for the document) and the rule in z, yhat and y,
    where yhat is the output activation or, for a loss with a link, the prediction p = link(z).
    """
    n_out = spec.layers[-1]
    act = activations.get(spec.activations[-1])
    loss = losses.get(spec.loss)
    zs = [sp.Symbol(f"z_{k + 1}", real=True) for k in range(n_out)]
    yh = [sp.Symbol(f"yhat_{k + 1}", real=True) for k in range(n_out)]
    ts = [sp.Symbol(f"y_{k + 1}", real=True) for k in range(n_out)]
    outputs = [act.expr(z, _alpha(spec)) for z in zs]
    sample_loss = loss.expr(outputs, ts)
    raw_rules, rules = [], []
    for k in range(n_out):
        d = apply_step_convention(sp.diff(sample_loss, zs[k]))
        raw_rules.append(d.xreplace({zs[k]: Z, ts[k]: T}))
        if loss.link == "softmax":
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


def _scalar_forms(
    spec: NetworkSpec, rules: tuple[LayerRule, ...], output_delta: sp.Expr
) -> ScalarForms:
    """Symbols for one sample, the forward pass, the loss, and `diff` for every parameter."""
    d = spec.layers[0]
    x = [sp.Symbol(f"x_{j + 1}", real=True) for j in range(d)]
    y = [sp.Symbol(f"y_{k + 1}", real=True) for k in range(spec.layers[-1])]
    params: dict[str, sp.Matrix] = {}
    zsyms: list[list[sp.Symbol]] = []
    hsyms: list[list[sp.Symbol]] = []
    definitions: dict[sp.Symbol, sp.Expr] = {}
    a: list[sp.Expr] = list(x)
    last = len(rules)
    for rule in rules:
        l = rule.index  # noqa: E741 - the layer index, as in the notation W^(l)
        W = sp.Matrix(
            [
                [
                    sp.Symbol(f"W{l}_{i + 1}_{j + 1}", real=True)
                    for j in range(rule.fan_in)
                ]
                for i in range(rule.units)
            ]
        )
        b = sp.Matrix(
            [sp.Symbol(f"b{l}_{i + 1}", real=True) for i in range(rule.units)]
        )
        params[f"W{l}"], params[f"b{l}"] = W, b
        zl = [
            sp.Add(*[W[i, j] * a[j] for j in range(rule.fan_in)], b[i])
            for i in range(rule.units)
        ]
        hl = [rule.forward.xreplace({Z: zi}) for zi in zl]
        zs = [sp.Symbol(f"z{l}_{i + 1}", real=True) for i in range(rule.units)]
        hname = "yhat" if l == last else f"h{l}"
        hs = [sp.Symbol(f"{hname}_{i + 1}", real=True) for i in range(rule.units)]
        definitions.update(zip(zs, zl, strict=True))
        definitions.update(zip(hs, hl, strict=True))
        zsyms.append(zs)
        hsyms.append(hs)
        a = hl
    loss = losses.get(spec.loss).expr(a, y)
    link = losses.get(spec.loss).link_expr
    if link is not None:  # the prediction p = link(z) of the output layer, named yhat_k
        zl_last = [definitions[s] for s in zsyms[-1]]
        definitions.update(zip(hsyms[-1], link(zl_last), strict=True))
    gradients = {
        name: P.applyfunc(lambda p: apply_step_convention(sp.diff(loss, p)))
        for name, P in params.items()
    }
    readable = _chain_form(rules, output_delta, x, y, params, zsyms, hsyms)
    return ScalarForms(
        x, y, params, zsyms, hsyms, definitions, loss, gradients, readable
    )


def backprop_one_sample(
    rules: tuple[LayerRule, ...],
    output_delta: sp.Expr,
    a: list[sp.Matrix],
    zs: list[sp.Matrix],
    outputs: sp.Matrix,
    y: sp.Matrix,
    params: dict[str, sp.Matrix],
) -> dict[str, sp.Matrix]:
    """The matrix backprop rules for one sample: delta_L from the output error, then for each
    layer gW = delta a_prev^T, gb = delta, delta_prev = (W^T delta) * act'(z_prev).

    `a` holds the input and every layer's activation, `zs` the pre-activations, `outputs` the
    prediction (the last activation, or the loss's link of it): as SymPy expressions for the
    proof, or as symbols for the readable forms.
    """
    grads: dict[str, sp.Matrix] = {}
    delta = sp.Matrix(
        [
            output_delta.xreplace({Z: zk, YHAT: hk, T: tk})
            for zk, hk, tk in zip(zs[-1], outputs, y, strict=True)
        ]
    )
    for rule in reversed(rules):
        l = rule.index  # noqa: E741 - the layer index, as in the notation W^(l)
        grads[f"W{l}"] = delta * a[l - 1].T
        grads[f"b{l}"] = delta
        if l > 1:
            below = rules[l - 2]
            local = sp.Matrix(
                [
                    below.derivative.xreplace({Z: zi, H: hi})
                    for zi, hi in zip(zs[l - 2], a[l - 1], strict=True)
                ]
            )
            delta = (params[f"W{l}"].T * delta).multiply_elementwise(local)
    return grads


def _chain_form(
    rules: tuple[LayerRule, ...],
    output_delta: sp.Expr,
    x: list[sp.Symbol],
    y: list[sp.Symbol],
    params: dict[str, sp.Matrix],
    zsyms: list[list[sp.Symbol]],
    hsyms: list[list[sp.Symbol]],
) -> dict[str, sp.Matrix]:
    """Every closed form written with the intermediates z, h and yhat, for reading.

    It is the vectorized rule applied to one sample with symbols for the stored values, e.g.
    dL/dW1_1_2 = W2_1_1*x_2*(yhat_1 - y_1)*step(z1_1); substituting the definitions of z, h
    and yhat gives SymPy's closed form back (prove_symbolic and verify.py check that).
    """
    a = [sp.Matrix(x)] + [sp.Matrix(h) for h in hsyms]
    zs = [sp.Matrix(z) for z in zsyms]
    return backprop_one_sample(rules, output_delta, a, zs, a[-1], sp.Matrix(y), params)


def vectorized_one_sample(
    rules: tuple[LayerRule, ...],
    output_delta: sp.Expr,
    x: sp.Matrix,
    y: sp.Matrix,
    params: dict[str, sp.Matrix],
    loss_name: str,
) -> dict[str, sp.Matrix]:
    """The matrix backprop rules for one sample, in x and the parameters (for the proof)."""
    a = [x]
    zs = []
    for rule in rules:
        z = params[f"W{rule.index}"] * a[-1] + params[f"b{rule.index}"]
        zs.append(z)
        a.append(z.applyfunc(lambda zi, r=rule: r.forward.xreplace({Z: zi})))
    link = losses.get(loss_name).link_expr
    outputs = sp.Matrix(link(list(zs[-1]))) if link is not None else a[-1]
    return backprop_one_sample(rules, output_delta, a, zs, outputs, y, params)


def prove_symbolic(
    spec: NetworkSpec,
    rules: tuple[LayerRule, ...],
    output_delta: sp.Expr,
    scalar: ScalarForms,
) -> tuple[int, int]:
    """Prove entry by entry that the vectorized rules give SymPy's closed forms.

    Returns (entries proven symbolically, entries in all). An entry whose difference does not
    expand to 0 (exp/log forms, or softmax where equality needs sum(y) = 1) is left to the
    numeric proof in verify.py, which runs on every emitted trainer.
    """
    vec = vectorized_one_sample(
        rules,
        output_delta,
        sp.Matrix(scalar.x),
        sp.Matrix(scalar.y),
        scalar.params,
        spec.loss,
    )
    proven = total = 0
    for name in spec.param_names:
        for v, c in zip(vec[name], scalar.gradients[name], strict=True):
            total += 1
            proven += sp.expand(v - c) == 0
    return proven, total


def closed_form_cost(spec: NetworkSpec) -> int:
    """A size estimate of all closed forms: parameters x outputs x the output's tree size.

    A unit's expression holds its fan-in copies of the layer below, each as many times as the
    activation uses z (leaky_relu's alpha z + (1 - alpha) relu(z) uses it twice).
    """
    size = 1
    for i, name in enumerate(spec.activations):
        uses = list(sp.preorder_traversal(activation_rule(name, spec.alpha)[0])).count(
            Z
        )
        size = spec.layers[i] * (size + 1) * (uses if i else 1)
    return spec.param_count * spec.layers[-1] * size


def keeps_closed_forms(spec: NetworkSpec) -> bool:
    """Whether the scalar closed forms are derived, or only the vectorized route is kept."""
    return (
        spec.param_count <= SCALAR_LIMIT and closed_form_cost(spec) <= SCALAR_COST_LIMIT
    )


def proxy_specs(spec: NetworkSpec) -> list[NetworkSpec]:
    """Narrow networks with the same activations, loss and reduction, small enough for closed forms.

    The same depth at width 2 when that is cheap; else one 2-hidden-layer network per distinct
    hidden activation (enough to exercise every rule: the output error, and the delta recursion
    through each activation into the layer below).
    """
    common = dict(loss=spec.loss, reduction=spec.reduction, alpha=spec.alpha)
    narrow = make_spec(
        layers=tuple(min(n, PROXY_WIDTH) for n in spec.layers),
        activations=spec.activations,
        name=f"{spec.name}_proxy",
        **common,
    )
    if closed_form_cost(narrow) <= SCALAR_COST_LIMIT:
        return [narrow]
    out_width = min(spec.layers[-1], PROXY_WIDTH)
    return [
        make_spec(
            layers=(PROXY_WIDTH, PROXY_WIDTH, PROXY_WIDTH, out_width),
            activations=(act, act, spec.activations[-1]),
            name=f"{spec.name}_proxy_{act}",
            **common,
        )
        for act in dict.fromkeys(spec.activations[:-1])
    ]


def derive(spec: NetworkSpec, closed_forms: bool | None = None) -> Derivation:
    """Derive `spec`: elementwise rules always, scalar closed forms while they stay small.

    `closed_forms=False` keeps only the vectorized route whatever the size (tests use it to
    exercise many specs quickly); None decides by size.
    """
    start = time.perf_counter()
    rules = tuple(_rule(i, spec) for i in range(1, spec.depth + 1))
    output_delta_raw, output_delta = _output_delta(spec)
    notes: list[str] = []
    if closed_forms if closed_forms is not None else keeps_closed_forms(spec):
        scalar = _scalar_forms(spec, rules, output_delta)
        algebraic = losses.get(spec.loss).link is None and not any(
            r.forward.has(sp.exp, sp.log) for r in rules
        )  # expand decides equality for these; exp/log forms go to the numeric proof
        if closed_form_cost(spec) <= SYMBOLIC_PROOF_COST and algebraic:
            proven, total = prove_symbolic(spec, rules, output_delta, scalar)
            proof = (
                f"symbolic: {'all ' if proven == total else ''}{proven} of {total} gradient "
                "entries of the vectorized form expand to SymPy's closed forms"
            )
        else:
            proof = "numeric (see verify)"
    else:
        scalar = None
        proxies = proxy_specs(spec)
        why = (
            f"{spec.param_count} parameters > {SCALAR_LIMIT}"
            if spec.param_count > SCALAR_LIMIT
            else f"closed forms of size ~{closed_form_cost(spec):,} > {SCALAR_COST_LIMIT:,} "
            "(they grow with the product of the widths)"
        )
        notes.append(
            f"{why}: scalar closed forms skipped, keeping only the vectorized route; its "
            "per-layer rules are proven on the "
            + ", ".join("-".join(map(str, p.layers)) for p in proxies)
            + (" proxy" if len(proxies) == 1 else " proxies")
        )

        proof = "proxy (see verify)"
    return Derivation(
        spec=spec,
        layers=rules,
        output_delta=output_delta,
        output_delta_raw=output_delta_raw,
        scalar=scalar,
        proof=proof,
        notes=notes,
        seconds=time.perf_counter() - start,
    )


def with_proof(derivation: Derivation, proof: str, seconds: float) -> Derivation:
    """The same derivation with its proof described and the total time updated."""
    return replace(derivation, proof=proof, seconds=derivation.seconds + seconds)
