"""The conditions inside a formula (the signs its pieces take), and values that move a point to
either side of one: nice numbers near its roots, then far away; and the exact sample points."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
import sympy as sp

from .values import MP, Inexact, Point
from .vocab import PIECEWISE

# Values tried for one variable when moving a point across a condition (besides its roots).
_FAR = (1, 10, 100, 1000, 10**4, 10**6)

GRID = (-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0)  # nice values for counterexamples


# Past these sizes (terms; term pairs in one product) a region is compared at its sample
# points instead of symbolically.
EXPANSION_LIMIT = 20_000


class TooBig(Exception):
    """Expanding the expression would produce too many terms."""


# offsets from a root, nicest first: a counterexample far enough from the breakpoint to read
_NEAR = (
    Fraction(1, 2),
    1,
    2,
    10,
    Fraction(1, 100),
    Fraction(1, 1000),
    Fraction(1, 10**6),
)


_DECIMALS = (2, 6)  # candidates are rounded to these many decimals (nicest first)


def algebraic(expr: sp.Expr) -> sp.Expr:
    """Write exp(c*a) as u_a**c and tanh through exp, so `cancel` can prove identities."""
    names: dict[sp.Expr, sp.Symbol] = {}

    def unknown(key: sp.Expr) -> sp.Symbol:
        """The symbol standing for exp(key)."""
        return names.setdefault(key, sp.Dummy(f"u{len(names)}"))

    def exp_of(arg: sp.Expr) -> sp.Expr:
        """exp(arg) as a power of the symbol of arg's normal form."""
        arg = sp.expand(arg)
        if arg.is_number:
            return sp.exp(arg)
        coeff, form = lead(arg)
        return unknown(form) ** coeff if coeff.is_Integer else unknown(arg)

    def walk(e: sp.Basic) -> sp.Basic:
        """Rewrite bottom-up."""
        if not e.args:
            return e
        args = [walk(x) for x in e.args]
        if isinstance(e, sp.exp):
            return exp_of(args[0])
        if isinstance(e, sp.tanh):
            u = exp_of(2 * args[0])
            return (u - 1) / (u + 1)
        return e.func(*args)

    return walk(expr)


def lead(e: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """The coefficient of e's first monomial (in a fixed order), and e divided by it."""
    pairs = [t.as_coeff_Mul() for t in sp.Add.make_args(e)]
    coeff, _ = min(pairs, key=lambda p: sp.default_sort_key(p[1]))
    return coeff, sp.expand(e / coeff)


def normal_form(e: sp.Expr) -> tuple[sp.Expr, int]:
    """e divided by the coefficient of its first monomial, and that coefficient's sign."""
    coeff, form = lead(e)
    return form, (1 if coeff > 0 else -1)


def sign_key(e: sp.Expr) -> tuple[sp.Expr, int] | None:
    """The normal form a sign of e is recorded under, or None (a number, piecewise, too big)."""
    try:
        expansion_bound(e, {})
    except TooBig:
        return None
    x = sp.expand(e)
    if x.is_number or x.has(*PIECEWISE):
        return None
    return normal_form(x)


def half_beyond(root: Fraction | Inexact, above: bool) -> Fraction:
    """The nearest multiple of 1/2 strictly above (or below) root."""
    twice = 2 * root
    if above:
        n = math.floor(twice) if isinstance(twice, Fraction) else int(MP.floor(twice))
        return Fraction(n + 1, 2)
    n = math.ceil(twice) if isinstance(twice, Fraction) else int(MP.ceil(twice))
    return Fraction(n - 1, 2)


def tries(condition: sp.Expr, v: sp.Symbol, p: Point) -> list[Fraction]:
    """Values of v to try to move the condition's sign: near its real roots, then far away."""
    rest = {
        u: sp.Rational(x.numerator, x.denominator)
        for u, x in p.items()
        if u != v and u in condition.free_symbols
    }
    f = condition.xreplace(rest)
    near: list[float] = []
    if f.is_polynomial(v):
        try:
            coeffs = [float(c) for c in sp.Poly(f, v).all_coeffs()]
            roots = np.roots(coeffs) if len(coeffs) > 1 else []
        except (OverflowError, TypeError, ValueError, np.linalg.LinAlgError):
            roots = []
        for r in roots:
            if np.isfinite(r) and abs(r.imag) <= 1e-9 * max(1.0, abs(r.real)):
                near += [float(r.real) + s * float(d) for d in _NEAR for s in (1, -1)]
    far = [float(s * x) for x in _FAR for s in (1, -1)]
    tries = [Fraction(repr(round(x, k))) for x in near for k in _DECIMALS]
    return list(dict.fromkeys(tries + [Fraction(int(x)) for x in far]))


def expansion_bound(e: sp.Basic, memo: dict) -> int:
    """An upper bound on the number of terms `expand` produces; raise TooBig past the limit."""
    if e in memo:
        return memo[e]
    if e.is_Add:
        out = sum(expansion_bound(a, memo) for a in e.args)
    elif e.is_Mul:
        out = math.prod(expansion_bound(a, memo) for a in e.args)
    elif e.is_Pow and e.exp.is_Integer and e.exp > 0:
        m = expansion_bound(e.base, memo)
        out = math.comb(m + int(e.exp) - 1, int(e.exp))
    else:
        for a in e.args:
            expansion_bound(a, memo)
        out = 1
    if out > EXPANSION_LIMIT:
        raise TooBig
    memo[e] = out
    return out


def draw(
    rng: np.random.Generator,
    kind: str,
    size: int,
    variables: Sequence[sp.Symbol],
    targets: Sequence[sp.Symbol],
    target_kind: str,
) -> dict[sp.Symbol, np.ndarray]:
    """Random values for every variable: grid halves, or decimals rounded to 0.01."""
    arrays: dict[sp.Symbol, np.ndarray] = {}
    for v in variables:
        if kind == "grid":
            arrays[v] = rng.choice(np.array(GRID), size=size)
        else:
            arrays[v] = np.round(rng.uniform(-2.0, 2.0, size=size), 2)
    if target_kind == "binary":
        for t in targets:
            arrays[t] = rng.integers(0, 2, size=size).astype(float)
    elif target_kind == "one_hot":
        hot = rng.integers(0, len(targets), size=size)
        for k, t in enumerate(targets):
            arrays[t] = (hot == k).astype(float)
    return arrays


def point(
    arrays: dict[sp.Symbol, np.ndarray], variables: Iterable[sp.Symbol], k: int
) -> Point:
    """Sample k as exact decimal fractions (`draw`'s values are whole hundredths)."""
    return {v: hundredths(round(float(arrays[v][k]) * 100)) for v in variables}


@functools.lru_cache(maxsize=1024)
def hundredths(n: int) -> Fraction:
    """n / 100, made once per value (a few hundred occur among thousands of samples)."""
    return Fraction(n, 100)
