"""Exact values of SymPy expressions at a point: Fractions where arithmetic is rational, 40
significant digits past exp/log/tanh and fractional powers, None where undefined, HUGE where too
large; and the same on arrays of sample points."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp

# Values past exp/log/tanh and fractional powers: 40 significant digits and an unbounded
# exponent (exp(10**6) is a number, not an overflow); a private context leaves mpmath's global
# precision alone.
MP = mpmath.MPContext()


MP.dps = 40


Inexact = MP.mpf


DIGITS = 25  # inexact values agree to this many significant digits ...


REL_TOL = MP.mpf(10) ** -DIGITS


ABS_TOL = MP.mpf(10) ** -30  # ... or to this absolute error


# inexact values both smaller than this prove nothing by agreeing
TINY = MP.mpf(10) ** -20


MAX_BITS = 10**7  # a value above 2**MAX_BITS (about 10**3_000_000) is "too large"


class _Huge:
    """The value of an expression too large to evaluate at a point (exp(exp(exp(10))))."""

    def __repr__(self) -> str:
        """For messages."""
        return "too large to evaluate"


HUGE = _Huge()


Point = dict[sp.Symbol, Fraction]


# None: undefined there (division by zero, log of <= 0); HUGE: too large to evaluate
Value = Fraction | Inexact | _Huge | None


class _Undefined(Exception):
    """The expression has no real value at this point."""


def evaluate(expr: sp.Expr, point: Point, memo: dict | None = None) -> Value:
    """The exact value (Fraction) of an expression at a point; 40 digits past exp/log/tanh."""
    try:
        return _value(expr, point, {} if memo is None else memo)
    except (_Undefined, ZeroDivisionError, ValueError):
        return None
    except OverflowError:
        return HUGE


def inexact(v: Fraction | Inexact) -> Inexact:
    """A value as a 40-digit number."""
    if isinstance(v, Fraction):
        return MP.mpf(v.numerator) / v.denominator
    return v


def _value(e: sp.Basic, point: Point, memo: dict) -> Fraction | Inexact:
    """The recursive evaluator behind `evaluate` (memoized per point).

    The memo is keyed by object identity (structural == on big trees is slow) and keeps the
    object alive, so an id is never reused while the memo lives.
    """
    hit = memo.get(id(e))
    if hit is not None:
        return hit[1]
    if e.is_Symbol:
        v: Fraction | Inexact = point[e]
    elif e.is_Rational:
        v = Fraction(int(e.p), int(e.q))
    elif e.is_Float or e.is_NumberSymbol:
        v = MP.mpf(e.evalf(MP.dps + 5)._mpf_)
    elif e.is_Atom:  # zoo, nan, oo, I: what 1/0, log(0) and sqrt(-1) become
        raise _Undefined
    elif e.is_Add:
        v = sum((_value(a, point, memo) for a in e.args), Fraction(0))
    elif e.is_Mul:
        v = Fraction(1)
        for a in e.args:
            v = v * _value(a, point, memo)
    elif e.is_Pow:
        v = _power(_value(e.base, point, memo), e.exp, point, memo)
    elif isinstance(e, sp.exp):
        v = MP.exp(inexact(_value(e.args[0], point, memo)))
    elif isinstance(e, sp.log):
        a = _value(e.args[0], point, memo)
        if a <= 0:
            raise _Undefined
        v = MP.log(inexact(a))
    elif isinstance(e, sp.tanh):
        v = MP.tanh(inexact(_value(e.args[0], point, memo)))
    elif isinstance(e, sp.Heaviside):
        a = _value(e.args[0], point, memo)
        at_zero = _value(e.args[1], point, memo) if len(e.args) > 1 else Fraction(1, 2)
        v = Fraction(1) if a > 0 else Fraction(0) if a < 0 else at_zero
    elif isinstance(e, sp.Max):
        v = max(_value(a, point, memo) for a in e.args)
    elif isinstance(e, sp.Min):
        v = min(_value(a, point, memo) for a in e.args)
    elif isinstance(e, sp.Abs):
        v = abs(_value(e.args[0], point, memo))
    elif isinstance(e, sp.Piecewise):
        v = _piecewise(e, point, memo)
    else:
        raise TypeError(f"cannot evaluate {type(e).__name__}")
    if isinstance(v, Inexact):
        if not MP.isfinite(v):
            raise _Undefined
        if MP.mag(v) > MAX_BITS:
            raise OverflowError
    memo[id(e)] = (e, v)
    return v


def _power(
    base: Fraction | Inexact, exponent: sp.Expr, point: Point, memo: dict
) -> Fraction | Inexact:
    """base ** exponent: exact for whole exponents, 40 digits otherwise."""
    if exponent.is_Integer:
        return base ** int(exponent)
    x = _value(exponent, point, memo)
    if base < 0 or (base == 0 and x < 0):
        raise _Undefined
    return inexact(base) ** inexact(x)


def _piecewise(e: sp.Piecewise, point: Point, memo: dict) -> Fraction | Inexact:
    """The value of the first branch whose condition holds."""
    for expr, cond in e.args:
        if _truth(cond, point, memo):
            return _value(expr, point, memo)
    raise _Undefined


def _truth(cond: sp.Basic, point: Point, memo: dict) -> bool:
    """Whether a condition (a comparison, And, Or) holds at the point."""
    if cond is sp.true:
        return True
    if cond is sp.false:
        return False
    if isinstance(cond, sp.And):
        return all(_truth(c, point, memo) for c in cond.args)
    if isinstance(cond, sp.Or):
        return any(_truth(c, point, memo) for c in cond.args)
    if isinstance(cond, sp.core.relational.Relational):
        d = _value(cond.lhs, point, memo) - _value(cond.rhs, point, memo)
        return {
            ">": d > 0,
            ">=": d >= 0,
            "<": d < 0,
            "<=": d <= 0,
            "==": d == 0,
            "!=": d != 0,
        }[cond.rel_op]
    raise TypeError(f"cannot evaluate the condition {cond}")


def same(a: Value, b: Value) -> bool:
    """Equal values: exactly for fractions, to DIGITS digits otherwise; undefined != defined.

    A value too large to evaluate equals nothing (the true gradients are never that large).
    """
    if a is HUGE or b is HUGE:
        return False
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    x, y = inexact(a), inexact(b)
    return abs(x - y) <= max(REL_TOL * max(abs(x), abs(y)), ABS_TOL)


def telling(a: Value, b: Value) -> bool:
    """True when finding a == b says something: both exact, exactly equal, or one of them
    above TINY in size (sigmoid'(-1000) and 0 agree to any tolerance, and prove nothing)."""
    if a is None or b is None or a is HUGE or b is HUGE:
        return True  # `same` decides these exactly
    if isinstance(a, Fraction) and isinstance(b, Fraction) or a == b:
        return True
    return max(abs(inexact(a)), abs(inexact(b))) > TINY


def strict_sign(v: Value) -> int | None:
    """+1 or -1 for a nonzero value, None for 0, undefined or too large (no use as a witness)."""
    if v is None or v is HUGE or v == 0:
        return None
    return 1 if v > 0 else -1


def evaluate_array(
    expr: sp.Expr, arrays: dict[sp.Symbol, np.ndarray], memo: dict
) -> np.ndarray:
    """Evaluate a trusted expression (the network's own definitions) on arrays of samples."""
    if expr in memo:
        return memo[expr]
    e = expr
    if e.is_Symbol:
        v = arrays[e]
    elif e.is_Number or e.is_NumberSymbol:
        v = np.full(next(iter(arrays.values())).shape, float(e))
    elif e.is_Add or e.is_Mul:
        parts = [evaluate_array(a, arrays, memo) for a in e.args]
        v = sum(parts[1:], parts[0]) if e.is_Add else np.prod(parts, axis=0)
    elif e.is_Pow:
        v = np.power(evaluate_array(e.base, arrays, memo), float(e.exp))
    else:
        args = [
            evaluate_array(a, arrays, memo) for a in e.args if isinstance(a, sp.Expr)
        ]
        if isinstance(e, sp.Max):
            v = np.maximum.reduce(args)
        elif isinstance(e, sp.Min):
            v = np.minimum.reduce(args)
        elif isinstance(e, sp.Heaviside):
            v = np.heaviside(args[0], args[1] if len(args) > 1 else 0.5)
        elif isinstance(e, sp.Abs):
            v = np.abs(args[0])
        elif isinstance(e, sp.exp):
            v = np.exp(args[0])
        elif isinstance(e, sp.log):
            v = np.log(args[0])
        elif isinstance(e, sp.tanh):
            v = np.tanh(args[0])
        elif isinstance(e, sp.Piecewise):
            v = _piecewise_array(e, arrays, memo)
        else:
            raise TypeError(f"cannot evaluate {type(e).__name__} on samples")
    memo[expr] = v
    return v


def _piecewise_array(e: sp.Piecewise, arrays: dict, memo: dict) -> np.ndarray:
    """A Piecewise on arrays: the first true branch per sample."""
    values, conds = [], []
    for expr, cond in e.args:
        values.append(evaluate_array(expr, arrays, memo))
        if cond is sp.true:
            conds.append(np.ones_like(values[-1], dtype=bool))
        else:
            d = evaluate_array(cond.lhs - cond.rhs, arrays, memo)
            ops = {">": d > 0, ">=": d >= 0, "<": d < 0, "<=": d <= 0}
            conds.append(ops[cond.rel_op])
    return np.select(conds, values, default=np.nan)
