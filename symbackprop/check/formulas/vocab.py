"""What a student's formula may name and call: the network's symbols and a few safe builders.

Both parsers (plain text in plain.py, LaTeX in latex.py) turn names into symbols with
`Vocabulary` and build every SymPy object through the functions here, which enforce the limits
(exponents, sizes, degree) that keep checking a formula cheap and safe. Activations are the
registry's (spec/registry.py); the maths functions here are the grammar's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ...derive.closed_forms import ScalarForms
from ...derive.rules import apply_step_convention
from ...spec import names, registry

MAX_CHARS = 2000  # per formula
MAX_NODES = 1000  # syntax-tree nodes per formula
MAX_DEPTH = 60  # nesting depth per formula
MAX_EXPONENT = 10  # |n| for x**n; 1/2 and -1/2 are allowed too
# total polynomial degree of a formula (intermediates count as degree 1)
MAX_DEGREE = 40
MAX_CONSTANT = 10**12  # largest number literal
MAX_CONSTANT_DIGITS = 200  # largest digits of a constant power such as 10**10


class ParseError(ValueError):
    """A formula that cannot be read or is refused; the message says what to write instead."""


def check_length(text: str) -> None:
    """Refuse a formula longer than MAX_CHARS before parsing it."""
    if len(text) > MAX_CHARS:
        raise ParseError(
            f"the formula is {len(text)} characters long; the limit is {MAX_CHARS}"
        )


# The grammar's own functions: plain maths, not activations (those come from the registry).
MATH_FUNCTIONS = (
    "step",
    "heaviside",
    "max",
    "min",
    "exp",
    "log",
    "sqrt",
    "abs",
    "expm1",
    "log1p",
    "where",
)
_MATH_ALIASES = {
    **{name: name for name in MATH_FUNCTIONS},
    "ln": "log",
    "maximum": "max",
    "minimum": "min",
    "indicator": "step",
}
_ARITY = {"max": (2, 8), "min": (2, 8), "heaviside": (1, 2), "where": (3, 3)}
# One-argument maths functions that may be written with a prime: exp'(z), \log'(z).
_PRIMED_MATH = ("exp", "log")
PIECEWISE = (sp.Heaviside, sp.Max, sp.Min, sp.Abs, sp.Piecewise)


def canonical_function(name: str) -> str | None:
    """The function a name stands for (relu, ReLU, ln, sigma, ...), or None.

    Maths functions are the grammar's; activations and their aliases are the registry's, so
    one registered at run time is callable at once. Names match case-insensitively.
    """
    low = name.lower()
    if low in _MATH_ALIASES:
        return _MATH_ALIASES[low]
    aliases = {alias.lower(): act for alias, act in registry.function_aliases().items()}
    return aliases.get(low)


def function_list() -> str:
    """The allowed function names, for error messages."""
    return ", ".join([*registry.entrywise_names(), *MATH_FUNCTIONS])


def number(value: int | float | Fraction) -> sp.Rational:
    """An exact SymPy number from a literal, refused when it is huge or not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise ParseError(f"{value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParseError(f"{value!r} is not a finite number")
    if abs(value) > MAX_CONSTANT:
        written = repr(value)
        if len(written) > 30:  # a 1999-digit literal is named, not printed
            written = f"{written[:12]}...{written[-6:]} ({len(written)} characters)"
        raise ParseError(
            f"the number {written} is too large (the limit is {MAX_CONSTANT:.0e})"
        )
    exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    return sp.Rational(exact.numerator, exact.denominator)


def exponent_value(expr: sp.Expr) -> sp.Rational:
    """Check that an exponent is a small whole number or +-1/2; return it."""
    allowed = f"a whole number between -{MAX_EXPONENT} and {MAX_EXPONENT}, or 1/2"
    if not expr.is_Rational:
        raise ParseError(f"the exponent must be a number ({allowed}), not a formula")
    if expr.is_Integer and abs(int(expr)) <= MAX_EXPONENT:
        return expr
    if abs(expr) == sp.Rational(1, 2):
        return expr
    raise ParseError(f"the exponent {expr} is not allowed; use {allowed}")


def power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    """base ** exponent, for a small exponent (see `exponent_value`) and a bounded result."""
    n = exponent_value(exponent)
    if base.is_zero and n < 0:
        raise ParseError("division by zero (0 to a negative power)")
    if base.is_Rational and base not in (0, 1, -1):
        digits = math.log10(abs(base.p)) + math.log10(base.q)
        if digits * abs(n) > MAX_CONSTANT_DIGITS:
            raise ParseError(f"the number {base}**{n} is too large")
    if degree(base) * abs(n) > MAX_DEGREE:
        raise ParseError(f"the power is too large (total degree above {MAX_DEGREE})")
    return sp.Pow(base, n)


def divide(numerator: sp.Expr, denominator: sp.Expr) -> sp.Expr:
    """numerator / denominator, refusing a division by the number 0."""
    if denominator.is_zero:
        raise ParseError("division by zero")
    return sp.Mul(numerator, sp.Pow(denominator, -1))


def indicator(lhs: sp.Expr, op: str, rhs: sp.Expr) -> sp.Expr:
    """1 where the comparison holds, else 0: `z > 0` is step(z) = Heaviside(z, 0)."""
    if op in (">", ">="):
        arg = lhs - rhs
    elif op in ("<", "<="):
        arg = rhs - lhs
    else:
        raise ParseError(f"the comparison {op!r} is not allowed; use >, >=, < or <=")
    return sp.Heaviside(arg, 1 if "=" in op else 0)


def apply_function(name: str, args: Sequence[sp.Expr], alpha: sp.Expr) -> sp.Expr:
    """Call a function (canonical name) on already-built arguments.

    An activation is its registry definition; one that uses alpha takes an optional second
    argument, the slope (leaky_relu(z, 0.1)).
    """
    if name in registry.ACTIVATIONS:
        act = registry.activation(name)
        if act.vector is not None:
            raise ParseError(
                f"{name} works on all the outputs together, so a per-entry formula cannot "
                "call it: write the output error with yhat, e.g. (yhat_1 - y_1)"
            )
        high = 2 if act.uses_alpha else 1
        _check_arity(name, args, 1, high)
        return act.expr(args[0], args[1] if len(args) == 2 else alpha)
    if name not in MATH_FUNCTIONS:
        raise ParseError(
            f"{name} is not an allowed function; use one of {function_list()}"
        )
    _check_arity(name, args, *_ARITY.get(name, (1, 1)))
    a = args[0]
    if name == "step":
        return sp.Heaviside(a, 0)
    if name == "heaviside":
        at_zero = args[1] if len(args) == 2 else sp.Integer(0)
        if not (at_zero.is_Rational and 0 <= at_zero <= 1):
            raise ParseError(
                "heaviside(z, h0): h0, the value at 0, must be a number from 0 to 1"
            )
        return sp.Heaviside(a, at_zero)
    if name == "max":
        return sp.Max(*args)
    if name == "min":
        return sp.Min(*args)
    if name == "exp":
        return sp.exp(a)
    if name == "log":
        return sp.log(a)
    if name == "sqrt":
        return power(a, sp.Rational(1, 2))
    if name == "abs":
        return sp.Abs(a)
    if name == "expm1":
        return sp.exp(a) - 1
    if name == "log1p":
        return sp.log(1 + a)
    return _where(*args)


def _where(indicator: sp.Expr, a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """where(condition, a, b) from the condition's indicator (the parser built it): a Piecewise,
    so the branch not taken may be undefined there (where(h1_1 > 0, x_1/h1_1, 0))."""
    if isinstance(indicator, sp.Heaviside):
        arg, at_zero = indicator.args
        condition = sp.Ge(arg, 0) if at_zero == 1 else sp.Gt(arg, 0)
        return sp.Piecewise((a, condition), (b, True))
    return indicator * a + (1 - indicator) * b  # SymPy decided it: 1 or 0


def _check_arity(name: str, args: Sequence[sp.Expr], low: int, high: int) -> None:
    """Refuse a call with fewer than `low` or more than `high` arguments."""
    if not low <= len(args) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise ParseError(f"{name}() takes {want} argument(s), got {len(args)}")


def derivative_of(name: str, arg: sp.Expr, alpha: sp.Expr) -> sp.Expr:
    """f'(arg) for a function written with a prime: relu'(z), \\sigma'(z), exp'(z).

    It is SymPy's derivative of the definition (an activation's is the registry's), with the
    step convention of the derivation: relu'(0) = 0.
    """
    if name not in registry.ACTIVATIONS and name not in _PRIMED_MATH:
        raise ParseError(
            f"{name}' (a derivative) is not supported; write the derivative out"
        )
    t = sp.Dummy("t", real=True)
    derivative = sp.diff(apply_function(name, [t], alpha), t)
    return apply_step_convention(derivative).xreplace({t: arg})


def degree(expr: sp.Expr, _memo: dict | None = None) -> int:
    """Total degree, counting every symbol as 1 and a function's value as its argument's."""
    memo = {} if _memo is None else _memo
    if expr in memo:
        return memo[expr]
    if expr.is_Symbol:
        out = 1
    elif not expr.args:
        out = 0
    elif expr.is_Pow and expr.exp.is_Integer:
        out = degree(expr.base, memo) * abs(int(expr.exp))
    elif expr.is_Mul:
        out = sum(degree(a, memo) for a in expr.args)
    elif isinstance(expr, sp.Heaviside):
        out = 0
    elif isinstance(expr, sp.Piecewise):
        out = max(degree(branch, memo) for branch, _ in expr.args)
    else:
        out = max(
            (degree(a, memo) for a in expr.args if isinstance(a, sp.Expr)), default=0
        )
    memo[expr] = out
    return out


_SUPPORTED = (
    sp.Symbol,
    sp.Rational,
    sp.Add,
    sp.Mul,
    sp.Pow,
    sp.exp,
    sp.log,
    sp.tanh,
    sp.Heaviside,
    sp.Max,
    sp.Min,
    sp.Abs,
    sp.Piecewise,
    sp.core.relational.Relational,
    sp.logic.boolalg.BooleanAtom,
    sp.functions.elementary.piecewise.ExprCondPair,
)


def check_result(expr: sp.Expr) -> sp.Expr:
    """Refuse a finished formula that is infinite, not real, or too large to check."""
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ParseError("the formula divides by zero or is infinite")
    if expr.has(sp.I):
        raise ParseError(
            "the formula is not a real number (log or sqrt of a negative number)"
        )
    for node in sp.preorder_traversal(expr):
        if not (isinstance(node, _SUPPORTED) or node is sp.E):
            raise ParseError(f"the formula contains {node}, which cannot be checked")
    if degree(expr) > MAX_DEGREE:
        raise ParseError(f"the formula is too large (total degree above {MAX_DEGREE})")
    return expr


# The lenient spellings students use besides the canonical names of spec/names.py (which
# `Vocabulary.by_name` holds): x1, y, yhat, Y_hat, w1_12, z_2 (one hidden layer), a1_2.
_LENIENT_NAME = re.compile(
    r"(?P<base>[A-Za-z]+?)(?P<layer>\d+)?(?:_(?P<idx>\d+(?:_\d+)*))?"
)
# written base letter -> what it names; also used by the LaTeX reader for single letters
BASES = {
    "x": "x",
    "y": "y",
    "yhat": "yhat",
    "w": "w",
    "b": "b",
    "z": "z",
    "h": "h",
    "a": "h",
}
_VECTORS = ("x", "y", "yhat")


@dataclass(frozen=True)
class Vocabulary:
    """The symbols of one network's sample: inputs, targets, parameters, z and h per layer."""

    inputs: tuple[sp.Symbol, ...]
    targets: tuple[sp.Symbol, ...]
    # W1 -> Matrix of W1_i_j, b1 -> column of b1_i
    params: dict[str, sp.Matrix]
    z: tuple[tuple[sp.Symbol, ...], ...]  # z[l-1][i-1]
    # h[l-1][i-1]; the last layer's are the outputs
    h: tuple[tuple[sp.Symbol, ...], ...]
    alpha: sp.Expr = sp.Rational(1, 100)
    # every canonical name (W1_1_2, z1_1, yhat_1, ..., made by spec/names.py) -> its symbol
    by_name: dict[str, sp.Symbol] = field(default_factory=dict)

    @classmethod
    def from_forms(cls, forms: ScalarForms, alpha: float = 0.01) -> Vocabulary:
        """Build from derive's ScalarForms (x, y, params, z, h, definitions)."""
        symbols = [*forms.x, *forms.y, *forms.definitions]
        symbols += [s for matrix in forms.params.values() for s in matrix]
        return cls(
            inputs=tuple(forms.x),
            targets=tuple(forms.y),
            params=dict(forms.params),
            z=tuple(tuple(layer) for layer in forms.z),
            h=tuple(tuple(layer) for layer in forms.h),
            alpha=number(alpha),
            by_name={s.name: s for s in symbols},
        )

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.z)

    @property
    def entries(self) -> list[sp.Symbol]:
        """Every parameter entry, in the order W1, b1, W2, b2, ... (row-major)."""
        return [s for name in names.param_names(self.depth) for s in self.params[name]]

    def describe(self) -> str:
        """The names a formula may use, compactly, for error messages."""

        def span(symbols: Sequence[sp.Symbol]) -> str:
            """`x_1..x_2`, or the one name."""
            s = list(symbols)
            return s[0].name if len(s) == 1 else f"{s[0].name}..{s[-1].name}"

        parts = [span(self.inputs), span(self.targets), span(self.h[-1])]
        parts += [span(self.params[p]) for p in names.param_names(self.depth)]
        parts += [span(zs) for zs in self.z]
        parts += [span(hs) for hs in self.h[:-1]]
        return ", ".join(parts)

    def plain_name(self, name: str) -> sp.Expr:
        """The symbol a plain-text name means: x_1, x1, y, yhat, W1_1_2, w1_12, b1_1, z_2, h1_2."""
        if name in self.by_name:
            return self.by_name[name]
        if name == "alpha":
            return self.alpha  # the spec's leaky-ReLU slope
        text = name
        if text.lower().startswith("y_hat"):
            text = "yhat" + text[5:]
        m = _LENIENT_NAME.fullmatch(text)
        base = m and BASES.get(m["base"].lower())
        if not m or base is None:
            if canonical_function(name):
                raise ParseError(f"{name} is a function: call it, e.g. {name}(z1_1)")
            raise ParseError(f"unknown name {name!r}; the names are {self.describe()}")
        layer, idx = m["layer"], m["idx"]
        if base in _VECTORS:
            one = f"{name}: {base} has one index; write e.g. {base}_1"
            if layer is not None and idx is not None:
                raise ParseError(one)
            digits = layer if layer is not None else idx
            if digits is not None and "_" in digits:
                raise ParseError(one)
            return self.lookup(base, None, None if digits is None else (digits,), name)
        indices = tuple(idx.split("_")) if idx is not None else None
        return self.lookup(
            base, int(layer) if layer is not None else None, indices, name
        )

    def lookup(
        self,
        base: str,
        layer: int | None,
        indices: Sequence[str] | None,
        written: str,
    ) -> sp.Symbol:
        """Resolve (base, layer, index digits) to a symbol, or say what to write instead."""
        if base in _VECTORS:
            vector = {"x": self.inputs, "y": self.targets, "yhat": self.h[-1]}[base]
            if layer is not None:
                raise ParseError(f"{written}: {base} has no layer; write {base}_1")
            return vector[self._index(written, base, indices, len(vector)) - 1]
        if layer is None:
            if base in ("z", "h") and self.depth == 2:
                layer = 1  # one hidden layer: z_2 is z1_2
            else:
                example = {
                    "w": f"{names.weight_entry(1, 1, 2)} (LaTeX w^{{(1)}}_{{12}})",
                    "b": f"{names.bias_entry(1, 2)} (LaTeX b^{{(1)}}_2)",
                }
                hint = example.get(base, f"{base}1_2 (LaTeX {base}^{{(1)}}_2)")
                raise ParseError(f"{written}: say which layer, e.g. {hint}")
        if base == "h" and layer == 0:
            return self.inputs[self._index(written, "x", indices, len(self.inputs)) - 1]
        if not 1 <= layer <= self.depth:
            raise ParseError(f"{written}: the layers are 1 to {self.depth}")
        if base == "w":
            return self._weight(written, layer, indices)
        vector = {
            "b": list(self.params[names.bias(layer)]),
            "z": self.z[layer - 1],
            "h": self.h[layer - 1],
        }[base]
        return vector[self._index(written, f"{base}{layer}", indices, len(vector)) - 1]

    def _weight(
        self, written: str, layer: int, indices: Sequence[str] | None
    ) -> sp.Symbol:
        """W{layer}[i, j] from (i, j), or from a compact two-digit `12`."""
        w = names.weight(layer)
        W = self.params[w]
        units, fan_in = W.shape
        if indices is None and units == fan_in == 1:
            return W[0, 0]
        if indices is not None and len(indices) == 1 and len(indices[0]) == 2:
            if units >= 10 or fan_in >= 10:
                raise ParseError(
                    f"{written}: with 10 or more units write the indices apart: "
                    f"{w}_i_j (LaTeX w^{{({layer})}}_{{i,j}})"
                )
            indices = (indices[0][0], indices[0][1])
        if indices is None or len(indices) != 2:
            raise ParseError(
                f"{written}: a weight has two indices, unit then input: "
                f"{names.weight_entry(layer, 1, 2)} (also w{layer}_12; LaTeX "
                f"w^{{({layer})}}_{{12}})"
            )
        i, j = int(indices[0]), int(indices[1])
        if not (1 <= i <= units and 1 <= j <= fan_in):
            raise ParseError(
                f"{written}: {w} is {units} x {fan_in} (units x inputs), so "
                f"{w}_i_j needs 1 <= i <= {units} and 1 <= j <= {fan_in}"
            )
        return W[i - 1, j - 1]

    @staticmethod
    def _index(
        written: str, what: str, indices: Sequence[str] | None, size: int
    ) -> int:
        """A 1-based index checked against the size (None: the only one)."""
        if indices is None:
            if size == 1:
                return 1
            raise ParseError(f"{written}: which one? write {what}_1 to {what}_{size}")
        if len(indices) != 1:
            raise ParseError(f"{written}: {what} has one index, e.g. {what}_1")
        k = int(indices[0])
        if not 1 <= k <= size:
            have = f"only {what}_1" if size == 1 else f"{what}_1 to {what}_{size}"
            raise ParseError(f"{written}: there is {have}")
        return k
