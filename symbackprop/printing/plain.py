"""Plain-text maths for docstrings and check-formulas' templates: `step(z)`, `relu(z)`.

The notation is the one check-formulas reads back from students, printed from the derivation.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter

from ..derive import Derivation, H, Z
from ..spec import names, registry


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


_PLAIN = PlainMathPrinter({"order": "none"})


def plain(expr: sp.Expr) -> str:
    """Print an expression in the plain-text notation shown to students."""
    return _PLAIN.doprint(expr)


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
    depth = len(d.layers)
    out = [f"d loss/d z{depth} = {plain(d.output_delta)}   (per sample, per output)"]
    for rule in d.layers[:-1]:
        z, h = sp.Symbol(f"z{rule.index}"), sp.Symbol(f"h{rule.index}")
        local = plain(rule.derivative.xreplace({Z: z, H: h}))
        out.append(f"{rule.activation}'(z{rule.index}) = {local}")
    return out


def forward_math(d: Derivation) -> list[str]:
    """One sample's forward pass, a layer a line: `z1 = W1 x + b1,   h1 = relu(z1)`."""
    depth = len(d.layers)
    out = []
    prev = "x"
    for rule in d.layers:
        k = rule.index
        h = "yhat" if k == depth else f"h{k}"
        out.append(f"z{k} = W{k} {prev} + b{k},   {h} = {rule.activation}(z{k})")
        prev = h
    link = registry.loss(d.spec.loss).link
    if link is not None:  # the loss applies its link itself: yhat names the prediction
        before = "x" if depth == 1 else f"h{depth - 1}"
        out[-1] = (
            f"z{depth} = W{depth} {before} + b{depth},   yhat = {link}(z{depth})   "
            f"(the loss takes the logits z{depth}; yhat, {names.PREDICTION} in the code, "
            "is the prediction)"
        )
    return out
