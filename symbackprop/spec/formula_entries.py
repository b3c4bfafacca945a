"""Activations and losses defined by a formula in the spec: parsed, differentiated, registered.

A formula is read by check-formulas' whitelist parser for plain text (never evaluated), as a
function of `z` (and the spec's `alpha`) for an activation, of `yhat` and `y` for a loss (one
output; the loss sums it over the outputs). SymPy differentiates it; the registry entry made
from it reaches every printer, the derivation and both checkers like a built-in one.

An activation's kinks must lie at z = 0 (where the checks keep away from them), and its
derivative there is the left one, the z <= 0 branch's, as ReLU'(0) = 0 is: the formula is
rewritten as where(z <= 0, its z < 0 form, its z > 0 form) before SymPy differentiates it, so
abs'(0) = -1, max(z, z/4)'(0) = 1/4, where(z >= 0, z, 0)'(0) = 0. A loss's derivative at a
kink is SymPy's: abs'(0) = sign(0) = 0; where(c, a, b) takes a' wherever c holds (its
boundary included for <= and >=), else b'; max and min take 0 at a tie (H(0) = 0). A formula
whose value jumps where a where() condition switches is refused: its slope there is no number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .._lazy import sympy as sp
from ..errors import UserError
from . import registry
from .limits import shown

KINDS = ("activation", "loss")
# what each kind's formula may name, for messages
_VARIABLES = {"activation": "z (and alpha)", "loss": "yhat and y"}


@dataclass(frozen=True)
class Formula:
    """One formula-defined entry: its kind (activation or loss), name and plain-text formula."""

    kind: str
    name: str
    text: str


# (kind, name) -> the formula text of each entry registered from a formula in this process
_REGISTERED: dict[tuple[str, str], str] = {}


def parse_assignment(flag: str, text: str) -> tuple[str, str]:
    """`NAME=FORMULA` from a command-line flag, refused in one line otherwise."""
    name, eq, formula = text.partition("=")
    if not eq or not name.strip() or not formula.strip():
        raise UserError(
            f"{flag}: {shown(text)} is not NAME=FORMULA; e.g. {flag} "
            "'swish=z * sigmoid(z)'"
        )
    return name.strip(), formula.strip()


def register_formulas(formulas: Iterable[Formula]) -> None:
    """Parse, differentiate and register each formula (again: the same text is kept)."""
    for f in formulas:
        key = (f.kind, f.name)
        taken = registry.ACTIVATIONS if f.kind == "activation" else registry.LOSSES
        if f.name not in taken:
            _REGISTERED.pop(key, None)  # taken out of the registry since (a test's)
        elif _REGISTERED.get(key) == f.text:
            continue
        if f.name in taken and key not in _REGISTERED:
            raise UserError(
                f"{f.kind} {shown(f.name)}: the name is taken by a built-in or registered "
                f"{f.kind}; give the formula another name"
            )
        if f.kind == "activation":
            activation = _activation(f)
            if key in _REGISTERED:  # a new formula for a name defined before
                registry.unregister_activation(f.name)
            registry.register_activation(activation)
        else:
            loss = _loss(f)
            if key in _REGISTERED:
                registry.unregister_loss(f.name)
            registry.register_loss(loss)
        _REGISTERED[key] = f.text


def _symbols() -> dict[str, sp.Symbol]:
    """The variables a formula may name, as real symbols."""
    return {n: sp.Symbol(n, real=True) for n in ("z", "alpha", "yhat", "y")}


def _parse(f: Formula, allowed: Sequence[str]) -> sp.Expr:
    """The formula as SymPy, through the check-formulas whitelist parser (plain text)."""
    from ..check.formulas.plain import parse_plain
    from ..check.formulas.vocab import ParseError, Vocabulary, canonical_function

    if not f.name.isidentifier() or f.name.startswith("_"):
        raise UserError(
            f"{f.kind} name {shown(f.name)} is not a plain identifier; e.g. swish"
        )
    if not f.text.isprintable():
        raise UserError(
            f"{f.kind} {f.name}: write the formula on one line of printable text (no "
            "newlines or control characters)"
        )
    if canonical_function(f.name) is not None:
        raise UserError(
            f"{f.kind} {f.name}: the name is taken by a function formulas may call; "
            "give the formula another name"
        )
    symbols = _symbols()

    class _Names(Vocabulary):
        """Only the kind's variables; every other name is refused."""

        def plain_name(self, name: str) -> sp.Expr:
            if name in allowed:
                return symbols[name]
            hint = (
                f"{name} is a function: call it, e.g. {name}(z)"
                if canonical_function(name)
                else f"unknown name {shown(name)}"
            )
            raise ParseError(f"{hint}; a {f.kind} formula names {_VARIABLES[f.kind]}")

    names = _Names(inputs=(), targets=(), params={}, z=(), h=(), alpha=symbols["alpha"])
    try:
        expr = parse_plain(f.text, names)
    except ParseError as exc:
        raise UserError(f"{f.kind} {f.name}: {exc}") from None
    return expr


def _differentiable(f: Formula, expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """SymPy's derivative in `var`, refused when SymPy cannot give a usable one."""
    derivative = sp.diff(expr, var)
    bad = (sp.Derivative, sp.Subs, sp.DiracDelta)
    if (
        derivative.has(*bad)
        or derivative.has(sp.nan, sp.zoo)
        or sp.simplify(derivative) == 0
    ):
        raise UserError(
            f"{f.kind} {f.name}: SymPy cannot differentiate {shown(f.text)} in {var} "
            "to a slope that is not 0 (a jump such as step(z), or a constant, has none to train with)"
        )
    return derivative


def _continuous(f: Formula, expr: sp.Expr, var: sp.Symbol) -> None:
    """Refuse a formula that jumps where one of its where() conditions switches: SymPy's
    derivative there ignores the jump, so the slope would be wrong."""
    relation = sp.core.relational.Relational
    relations = set()
    for pw in expr.atoms(sp.Piecewise):
        for _, cond in pw.args:
            relations |= {cond} if isinstance(cond, relation) else cond.atoms(relation)
    step = sp.Rational(1, 10**12)  # either side of a switching point
    symbols = _symbols()
    samples = [  # the other variables' values tried
        {symbols["y"]: sp.Rational(v, 10), symbols["alpha"]: sp.Rational(1, 100)}
        for v in (-7, 3, 19)
    ]
    for rel in relations:
        if var not in rel.free_symbols:
            continue
        try:
            roots = sp.solve(sp.Eq(rel.lhs - rel.rhs, 0), var)
        except (NotImplementedError, ValueError):
            roots = None
        if roots is None:
            raise UserError(
                f"{f.kind} {f.name}: cannot find where {shown(str(rel))} switches, so "
                f"cannot tell whether {shown(f.text)} jumps there; compare {var} with a "
                "number or a plain expression"
            )
        for root in roots:
            for point in samples:
                at = {s: v for s, v in point.items() if s != var}
                lo = expr.xreplace({var: root - step}).xreplace(at).evalf(40)
                hi = expr.xreplace({var: root + step}).xreplace(at).evalf(40)
                if not (lo.is_real and hi.is_real) or abs(hi - lo) > 1e-6:
                    raise UserError(
                        f"{f.kind} {f.name}: {shown(f.text)} jumps at {var} = {sp.sstr(root)} "
                        f"(from {round(float(lo), 6) + 0.0:g} to {round(float(hi), 6) + 0.0:g}), where SymPy's "
                        "slope ignores the jump; make the where() branches meet there"
                    )


def _kinks_at_zero(f: Formula, derivative: sp.Expr, z: sp.Symbol) -> None:
    """Refuse an activation whose derivative jumps anywhere but at z = 0."""
    args = [e.args[0] for e in derivative.atoms(sp.Heaviside, sp.sign)]
    args += [a for e in derivative.atoms(sp.Max, sp.Min) for a in e.args]
    for pw in derivative.atoms(sp.Piecewise):
        args += [c.lhs - c.rhs for _, c in pw.args if isinstance(c, sp.Rel)]
    for arg in args:
        if z not in arg.free_symbols:
            continue
        try:
            roots = sp.solve(sp.Eq(arg, 0), z)
        except (NotImplementedError, ValueError):
            roots = None
        if roots is None or any(r != 0 for r in roots):
            raise UserError(
                f"activation {f.name}: its slope jumps away from z = 0 ({arg} = 0); "
                "this version handles kinks at z = 0 only, as ReLU's"
            )


def _left_at_zero(expr: sp.Expr, z: sp.Symbol) -> sp.Expr:
    """The formula as its z <= 0 branch and its z > 0 branch, so that SymPy's derivative at
    the kink is the left one, as ReLU's is: abs'(0) = -1, max(z, z/4)'(0) = 1/4."""
    neg, pos = sp.Symbol("n", negative=True), sp.Symbol("p", positive=True)
    left = expr.xreplace({z: neg}).xreplace({neg: z})
    right = expr.xreplace({z: pos}).xreplace({pos: z})
    return sp.Piecewise((left, z <= 0), (right, True))


def _stable_calls(expr: sp.Expr, alpha: sp.Symbol) -> tuple[sp.Expr, dict[str, str]]:
    """Replace each built-in activation inside `expr` by a call printed with its stable
    NumPy form (sigmoid as exp(-logaddexp(0, -z)), softplus as logaddexp(0, z))."""
    w = sp.Wild("w")
    calls: dict[str, str] = {}
    for entry in list(registry.ACTIVATIONS.values()):
        if entry.is_identity or entry.uses_alpha or entry.vector is not None:
            continue
        pattern = entry.expr(w, alpha)
        if not isinstance(pattern, sp.Expr) or pattern.is_Atom:
            continue
        marker = f"stable_{entry.name}"
        fn = sp.Function(marker)
        replaced = expr.replace(pattern, lambda w, fn=fn: fn(w))
        if replaced != expr:
            calls[marker] = entry.numpy
            expr = replaced
    return expr, calls


def _numpy(expr: sp.Expr, slots: dict[sp.Symbol, str], alpha: sp.Symbol) -> str:
    """The NumPy text of an entrywise formula over the registry's placeholders."""
    from ..printing.arrays import template_expr

    stable, calls = _stable_calls(expr, alpha)
    return template_expr(stable, slots, calls)


def _latex_name(name: str) -> str:
    return r"\operatorname{" + name.replace("_", r"\_") + "}"


def _activation(f: Formula) -> registry.Activation:
    s = _symbols()
    z, alpha = s["z"], s["alpha"]
    expr = _parse(f, ("z", "alpha"))
    if z not in expr.free_symbols:
        raise UserError(
            f"activation {f.name}: {shown(f.text)} is not a function of z; write it in z, "
            "e.g. z * sigmoid(z)"
        )
    derivative = _differentiable(f, expr, z)
    _continuous(f, expr, z)
    _kinks_at_zero(f, derivative, z)
    if derivative.has(sp.Heaviside, sp.Piecewise, sp.Max, sp.Min, sp.sign):
        expr = _left_at_zero(expr, z)
    return registry.Activation(
        f.name,
        lambda arg, slope: expr.xreplace({z: arg, alpha: slope}),
        _numpy(expr, {z: "{z}", alpha: "{alpha}"}, alpha),
        _latex_name(f.name),
        formula=f.text,
    )


def _loss(f: Formula) -> registry.Loss:
    s = _symbols()
    yhat, y = s["yhat"], s["y"]
    expr = _parse(f, ("yhat", "y"))
    if not {yhat, y} <= expr.free_symbols:
        raise UserError(
            f"loss {f.name}: {shown(f.text)} is not a function of yhat and y; a loss "
            "compares the output yhat with its target y, e.g. abs(yhat - y)"
        )
    _differentiable(f, expr, yhat)
    _continuous(f, expr, yhat)

    def total(outputs: Sequence[sp.Expr], targets: Sequence[sp.Expr]) -> sp.Expr:
        return sp.Add(
            *[
                expr.xreplace({yhat: a, y: b})
                for a, b in zip(outputs, targets, strict=True)
            ]
        )

    body = _numpy(expr, {yhat: "{Y}", y: "{T}"}, s["alpha"])
    return registry.Loss(
        f.name,
        total,
        f"np.sum({body})",
        f"the formula {f.text}, summed over the outputs",
        formula=f.text,
    )
