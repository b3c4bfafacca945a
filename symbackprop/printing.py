"""Print a Derivation as the exact NumPy (and plain-text maths) the generated trainer shows.

SymPy objects stop here: templates receive the strings these functions return.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from . import activations, losses
from .derive import YHAT, Derivation, H, T, Z


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


class PlainMathPrinter(StrPrinter):
    """Plain-text maths for docstrings, in the notation `check-formulas` reads: step(z) = 1[z > 0]."""

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args
        if at_zero == 0:
            return f"step({self._print(arg)})"
        return f"Heaviside({self._print(arg)}, {self._print(at_zero)})"

    def _print_Max(self, expr: sp.Max) -> str:
        args = [a for a in expr.args if a != 0]
        if len(args) == 1 and len(args) < len(expr.args):
            return f"relu({self._print(args[0])})"
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        *pieces, (last, cond) = expr.args
        if cond != sp.true:
            return super()._print_Piecewise(expr)
        out = self._print(last)
        for value, condition in reversed(pieces):
            out = f"where({self._print(condition)}, {self._print(value)}, {out})"
        return out


_NUMPY = NumPyArrayPrinter({"fully_qualified_modules": True})
_PLAIN = PlainMathPrinter({"order": "none"})


def numpy_expr(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
    """Print an entrywise rule with its placeholders renamed to the arrays they stand for."""
    named = expr.xreplace({s: sp.Symbol(n, real=True) for s, n in names.items()})
    return _NUMPY.doprint(named)


def plain(expr: sp.Expr) -> str:
    """Print an expression in the plain-text notation shown to students."""
    return _PLAIN.doprint(expr)


@dataclass(frozen=True)
class Line:
    """One statement of generated code, with a short comment saying what it is."""

    code: str
    comment: str = ""


def _scaled(expr: str, reduction: str) -> str:
    return f"({expr}) / n" if reduction == "mean" else expr


def forward_lines(d: Derivation) -> list[Line]:
    """Z_l = H_{l-1} @ W_l.T + b_l and H_l = act(Z_l), layer by layer; the last H is Y.

    Activations use the registry's numerically safe NumPy forward; a loss with a link adds
    P = link(Y), the predicted probabilities.
    """
    lines = []
    prev = "X"
    for rule in d.layers:
        l = rule.index  # noqa: E741 - the layer index, as in the notation W^(l)
        out = "Y" if l == len(d.layers) else f"H{l}"
        act = activations.get(rule.activation).numpy.format(
            z=f"Z{l}", alpha=repr(d.spec.alpha)
        )
        lines.append(
            Line(
                f"Z{l} = {prev} @ W{l}.T + b{l}",
                f"(N, {rule.units}) pre-activations of layer {l}",
            )
        )
        lines.append(Line(f"{out} = {act}", f"(N, {rule.units}) {rule.activation}"))
        prev = out
    loss = losses.get(d.spec.loss)
    if loss.link is not None:
        p = loss.link_numpy.format(Z="Y")
        lines.append(
            Line(f"P = {p}", f"(N, {d.layers[-1].units}) {loss.link} of the logits Y")
        )
    return lines


def backward_lines(d: Derivation) -> list[Line]:
    """The vectorized backprop, output layer first: dZ, then gW = dZ.T @ H_prev, gb = sum of dZ."""
    L = len(d.layers)
    lines = []
    prediction = "Y" if losses.get(d.spec.loss).link is None else "P"
    delta = numpy_expr(d.output_delta, {Z: f"Z{L}", YHAT: prediction, T: "y"})
    lines.append(
        Line(
            f"dZ{L} = {_scaled(delta, d.spec.reduction)}",
            f"(N, {d.layers[-1].units}) d loss / d Z{L}"
            + (", divided by n for the mean" if d.spec.reduction == "mean" else ""),
        )
    )
    for rule in reversed(d.layers):
        l = rule.index  # noqa: E741
        prev = "X" if l == 1 else f"H{l - 1}"
        lines.append(
            Line(
                f"gW{l} = dZ{l}.T @ {prev}",
                f"({rule.units}, {rule.fan_in}) sum over samples",
            )
        )
        lines.append(
            Line(f"gb{l} = dZ{l}.sum(axis=0)", f"({rule.units},) one per unit")
        )
        if l > 1:
            below = d.layers[l - 2]
            local = numpy_expr(below.derivative, {Z: f"Z{l - 1}", H: f"H{l - 1}"})
            if precedence(below.derivative) < PRECEDENCE["Mul"]:
                local = f"({local})"
            back = f"dZ{l} @ W{l}"
            code = back if local == "1" else f"({back}) * {local}"
            lines.append(
                Line(
                    f"dZ{l - 1} = {code}",
                    f"(N, {below.units}) back through W{l}, times {below.activation}'(Z{l - 1})",
                )
            )
    return lines


def closed_form_lines(d: Derivation) -> list[str]:
    """`dL/dW1_1_2 = ...` for every parameter entry (one sample), or [] on the vectorized route."""
    if d.scalar is None:
        return []
    out = []
    for name in d.spec.param_names:
        for entry, sym in zip(
            d.scalar.readable[name], d.scalar.params[name], strict=True
        ):
            out.append(f"dL/d{sym} = {plain(entry)}")
    return out


def rule_lines(d: Derivation) -> list[str]:
    """The entrywise rules SymPy derived: the output error and each activation's derivative."""
    L = len(d.layers)
    out = [f"d loss/d z{L} = {plain(d.output_delta)}   (per sample, per output)"]
    for rule in d.layers[:-1]:
        out.append(
            f"{rule.activation}'(z{rule.index}) = {plain(rule.derivative.xreplace({Z: sp.Symbol(f'z{rule.index}'), H: sp.Symbol(f'h{rule.index}')}))}"
        )
    return out
