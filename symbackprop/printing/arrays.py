"""The SymPy printer for entrywise NumPy, shared by the trainer's printers and the registry.

It imports SymPy only, so the spec can print a formula-defined activation's forward with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence


class NumPyArrayPrinter(NumPyPrinter):
    """NumPy as a person writes it: `np.` prefix, `np.maximum(z, 0)`, `(z > 0)` for the step."""

    def _module_format(self, fqn: str, register: bool = True) -> str:
        fqn = super()._module_format(fqn, register)
        return "np." + fqn[len("numpy.") :] if fqn.startswith("numpy.") else fqn

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args
        if at_zero == 0:
            return f"({self._print(arg)} > 0)"
        if at_zero == 1:
            return f"({self._print(arg)} >= 0)"
        return f"np.heaviside({self._print(arg)}, {self._print(at_zero)})"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Relational(self, expr: sp.core.relational.Relational) -> str:
        return f"{self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)}"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        *pieces, (last, cond) = expr.args
        if cond != sp.true:
            return super()._print_Piecewise(expr)
        out = self._print(last)
        for value, condition in reversed(pieces):
            out = f"np.where({self._print(condition)}, {self._print(value)}, {out})"
        return out

    def _print_Max(self, expr: sp.Max) -> str:
        args = [self._print(a) for a in expr.args if a != 0]
        zeros = len(args) < len(expr.args)
        if len(args) == 1 and zeros:
            return f"np.maximum({args[0]}, 0)"
        out = args[0]
        for a in args[1:] + (["0"] if zeros else []):
            out = f"np.maximum({out}, {a})"
        return out


_NUMPY = NumPyArrayPrinter({"fully_qualified_modules": True})


def numpy_expr(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
    """Print an entrywise rule with its placeholders renamed to the arrays they stand for."""
    named = expr.xreplace({s: sp.Symbol(n, real=True) for s, n in names.items()})
    return _NUMPY.doprint(named)


class _RenamingPrinter(NumPyArrayPrinter):
    """Symbols printed under other names (a student's), keeping the order of their own."""

    def __init__(self, rename: Mapping[str, str]) -> None:
        super().__init__({"fully_qualified_modules": True})
        self.rename = dict(rename)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return self.rename.get(expr.name, expr.name)


def rule_expr(
    rule: sp.Expr, arrays: Mapping[str, str], rename: Mapping[str, str]
) -> str:
    """An entrywise rule on named arrays (placeholder name -> array name), each array printed
    as `rename` says: terms are ordered by the arrays' names, not by what they print as."""
    named = {
        s: sp.Symbol(arrays[s.name], real=True)
        for s in rule.free_symbols
        if isinstance(s, sp.Symbol) and s.name in arrays
    }
    return _RenamingPrinter(rename).doprint(rule.xreplace(named))


def binds_looser_than_product(rule: sp.Expr) -> bool:
    """Whether the printed rule needs parentheses as a factor of `*` (a sum, a comparison)."""
    return bool(precedence(rule) < PRECEDENCE["Mul"])


class _SlotPrinter(NumPyArrayPrinter):
    """Prints chosen symbols as given text ({z}) and chosen undefined calls as templates."""

    def __init__(
        self, slots: Mapping[sp.Symbol, str], calls: Mapping[str, str]
    ) -> None:
        super().__init__({"fully_qualified_modules": True})
        self.slots = dict(slots)
        self.calls = dict(calls)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if expr in self.slots:
            return self.slots[expr]
        return super()._print_Symbol(expr)

    def _print_Function(self, expr: sp.Function) -> str:
        name = expr.func.__name__
        if isinstance(expr, AppliedUndef) and name in self.calls:
            return self.calls[name].format(z=self._print(expr.args[0]))
        return super()._print_Function(expr)


def template_expr(
    expr: sp.Expr, slots: Mapping[sp.Symbol, str], calls: Mapping[str, str]
) -> str:
    """NumPy text with `slots` printed as given (e.g. "{z}") and each undefined function
    named in `calls` printed by its template over {z} (its printed argument)."""
    return _SlotPrinter(slots, calls).doprint(expr)
