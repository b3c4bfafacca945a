"""Derive a network's gradients with SymPy: scalar closed forms and per-layer vectorized rules.

Nothing here is typed in by hand: every derivative is `sympy.diff` of the spec's forward pass and
loss. The vectorized (matrix) rules are built from the same elementwise derivatives and proven equal
to the scalar closed forms before anything is emitted (see `prove_symbolic` and verify.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import sympy as sp

from . import activations, losses
from .errors import UserError
from .spec import NetworkSpec, make_spec

# ReLU'(0) = 0, the `Z > 0` convention. SymPy's Heaviside(0) is 1/2 unless told otherwise, so
# every derivative passes through `apply_step_convention`, which states the value at 0.
HEAVISIDE_AT_ZERO = sp.Integer(0)

# Past this many parameters the scalar closed forms are too big to be worth having: only the
# vectorized route is kept, and its rules are proven on a narrow proxy of the same network.
SCALAR_LIMIT = 300
# Up to this many parameters the vectorized form is proven equal to the closed forms
# symbolically (expand of the difference is 0); beyond it, at random points (verify.py).
SYMBOLIC_PROOF_LIMIT = 40
PROXY_WIDTH = 3

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
    cse: tuple[
        list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]
    ]  # over all gradient entries


@dataclass(frozen=True)
class Derivation:
    """Everything the printers and the checker need, derived once from a spec."""

    spec: NetworkSpec
    layers: tuple[LayerRule, ...]
    output_delta: sp.Expr  # d(sample loss)/d z_L, entrywise, in z, yhat and y
    scalar: ScalarForms | None  # None past SCALAR_LIMIT (vectorized route only)
    proof: str  # how the vectorized form was proven (completed by verify.py)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def route(self) -> str:
        """'scalar+vectorized' when closed forms are kept, else 'vectorized'."""
        return "scalar+vectorized" if self.scalar is not None else "vectorized"


def _rule(index: int, spec: NetworkSpec) -> LayerRule:
    act = activations.get(spec.activations[index - 1])
    forward = act.expr(Z)
    derivative = apply_step_convention(sp.diff(forward, Z))
    if forward != Z and derivative.has(forward):
        derivative = derivative.subs(forward, H)
    return LayerRule(
        index=index,
        fan_in=spec.layers[index - 1],
        units=spec.layers[index],
        activation=act.name,
        forward=forward,
        derivative=derivative,
    )


def _output_delta(spec: NetworkSpec) -> sp.Expr:
    """d(loss)/d(z_k) of the output layer, proven to be the same rule for every output k."""
    n_out = spec.layers[-1]
    act = activations.get(spec.activations[-1])
    zs = [sp.Symbol(f"z_{k + 1}", real=True) for k in range(n_out)]
    yh = [sp.Symbol(f"yhat_{k + 1}", real=True) for k in range(n_out)]
    ts = [sp.Symbol(f"y_{k + 1}", real=True) for k in range(n_out)]
    sample_loss = losses.get(spec.loss).expr([act.expr(z) for z in zs], ts)
    rules = []
    for k in range(n_out):
        d = apply_step_convention(sp.diff(sample_loss, zs[k]))
        out = act.expr(zs[k])
        d = sp.simplify(d.subs(out, yh[k]) if out != zs[k] else d.subs(zs[k], yh[k]))
        rules.append(d.xreplace({zs[k]: Z, yh[k]: YHAT, ts[k]: T}))
    if any(r.free_symbols - {Z, YHAT, T} for r in rules) or any(
        r != rules[0] for r in rules
    ):
        raise UserError(
            f"loss {spec.loss} with output activation {act.name}: the output error is not "
            "entrywise, which this version cannot vectorize; choose another pairing"
        )
    return rules[0]


def _scalar_forms(spec: NetworkSpec, rules: tuple[LayerRule, ...]) -> ScalarForms:
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
    gradients = {
        name: P.applyfunc(lambda p: apply_step_convention(sp.diff(loss, p)))
        for name, P in params.items()
    }
    readable = {
        name: G.applyfunc(lambda g: _readable(g, zsyms, hsyms, definitions))
        for name, G in gradients.items()
    }
    flat = [g for name in spec.param_names for g in gradients[name]]
    replacements, reduced = sp.cse(
        flat, symbols=sp.numbered_symbols("t"), optimizations="basic"
    )
    return ScalarForms(
        x,
        y,
        params,
        zsyms,
        hsyms,
        definitions,
        loss,
        gradients,
        readable,
        (replacements, reduced),
    )


def _readable(
    g: sp.Expr,
    zsyms: list[list[sp.Symbol]],
    hsyms: list[list[sp.Symbol]],
    definitions: dict[sp.Symbol, sp.Expr],
) -> sp.Expr:
    """Rewrite a closed form with the intermediates z, h, yhat (outermost first), for reading."""
    for zs, hs in zip(reversed(zsyms), reversed(hsyms), strict=True):
        for s in hs:
            if definitions[s] not in (sp.Integer(0),):
                g = g.subs(definitions[s], s)
        for s in zs:
            g = g.subs(definitions[s], s)
    return g


def vectorized_one_sample(
    rules: tuple[LayerRule, ...],
    output_delta: sp.Expr,
    x: sp.Matrix,
    y: sp.Matrix,
    params: dict[str, sp.Matrix],
) -> dict[str, sp.Matrix]:
    """The matrix backprop rules for one sample, as SymPy matrices (what the trainer computes)."""
    a = [x]
    zs = []
    for rule in rules:
        z = params[f"W{rule.index}"] * a[-1] + params[f"b{rule.index}"]
        zs.append(z)
        a.append(z.applyfunc(lambda zi, r=rule: r.forward.xreplace({Z: zi})))
    grads: dict[str, sp.Matrix] = {}
    delta = sp.Matrix(
        [
            output_delta.xreplace({Z: zk, YHAT: hk, T: tk})
            for zk, hk, tk in zip(zs[-1], a[-1], y, strict=True)
        ]
    )
    for rule in reversed(rules):
        l = rule.index  # noqa: E741
        grads[f"W{l}"] = delta * a[l - 1].T
        grads[f"b{l}"] = delta
        if l > 1:
            prev = rules[l - 2]
            local = sp.Matrix(
                [
                    prev.derivative.xreplace({Z: zi, H: hi})
                    for zi, hi in zip(zs[l - 2], a[l - 1], strict=True)
                ]
            )
            delta = (params[f"W{l}"].T * delta).multiply_elementwise(local)
    return grads


def prove_symbolic(
    spec: NetworkSpec,
    rules: tuple[LayerRule, ...],
    output_delta: sp.Expr,
    scalar: ScalarForms,
) -> int:
    """Prove entry by entry that the vectorized rules give SymPy's closed forms; return the count."""
    vec = vectorized_one_sample(
        rules, output_delta, sp.Matrix(scalar.x), sp.Matrix(scalar.y), scalar.params
    )
    count = 0
    for name in spec.param_names:
        closed = scalar.gradients[name]
        for idx in range(len(closed)):
            diff = sp.expand(vec[name][idx] - closed[idx])
            if diff != 0 and sp.simplify(diff) != 0:
                raise DerivationError(
                    f"d loss/d {name}[{idx}]: vectorized {vec[name][idx]} != closed form {closed[idx]}"
                )
            count += 1
    # the readable forms must be the same closed forms, written with intermediates
    back = {s: e for s, e in scalar.definitions.items()}
    for name in spec.param_names:
        for r, c in zip(scalar.readable[name], scalar.gradients[name], strict=True):
            expanded = r
            for _ in range(2 * spec.depth + 1):
                expanded = expanded.xreplace(back)
            if sp.expand(expanded - c) != 0:
                raise DerivationError(
                    f"readable form of d loss/d {name} differs from its closed form"
                )
    return count


def proxy_spec(spec: NetworkSpec) -> NetworkSpec:
    """A narrow network with the same depth, activations, loss and reduction as `spec`."""
    return make_spec(
        layers=tuple(min(n, PROXY_WIDTH) for n in spec.layers),
        activations=spec.activations,
        loss=spec.loss,
        reduction=spec.reduction,
        name=f"{spec.name}_proxy",
    )


def derive(spec: NetworkSpec) -> Derivation:
    """Derive `spec`: elementwise rules always, scalar closed forms while they stay small."""
    start = time.perf_counter()
    rules = tuple(_rule(i, spec) for i in range(1, spec.depth + 1))
    output_delta = _output_delta(spec)
    notes: list[str] = []
    if spec.param_count <= SCALAR_LIMIT:
        scalar = _scalar_forms(spec, rules)
        if spec.param_count <= SYMBOLIC_PROOF_LIMIT:
            n = prove_symbolic(spec, rules, output_delta, scalar)
            proof = f"symbolic: all {n} gradient entries of the vectorized form equal SymPy's closed forms"
        else:
            proof = "numeric (see verify)"
    else:
        scalar = None
        proxy = proxy_spec(spec)
        notes.append(
            f"{spec.param_count} parameters > {SCALAR_LIMIT}: scalar closed forms skipped, keeping only "
            f"the vectorized route; its per-layer rules are proven on the "
            f"{'-'.join(map(str, proxy.layers))} proxy"
        )
        proof = "proxy (see verify)"
    return Derivation(
        spec=spec,
        layers=rules,
        output_delta=output_delta,
        scalar=scalar,
        proof=proof,
        notes=notes,
        seconds=time.perf_counter() - start,
    )


def with_proof(derivation: Derivation, proof: str, seconds: float) -> Derivation:
    """The same derivation with its proof described and the total time updated."""
    return replace(derivation, proof=proof, seconds=derivation.seconds + seconds)
