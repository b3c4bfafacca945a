"""Plain-text maths for docstrings and check-formulas' templates: `step(z)`, `relu(z)`.

The notation is the one check-formulas reads back from students, printed from the derivation.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter

from ..derive import Derivation, H, Z
from ..derive import program as P
from ..spec import names


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
    last = names.sample_z(depth)
    out = [f"d loss/d {last} = {plain(d.output_delta)}   (per sample, per output)"]
    for rule in d.layers[:-1]:
        z, h = names.sample_z(rule.index), names.sample_h(rule.index, depth)
        local = plain(rule.derivative.xreplace({Z: sp.Symbol(z), H: sp.Symbol(h)}))
        out.append(f"{rule.activation}'({z}) = {local}")
    return out


class VectorPrinter:
    """One sample's column-vector forms of Program nodes, in lower case: `W1 x + b1`, `relu(z1)`."""

    def __init__(self, rename: dict[str, str]) -> None:
        self.rename = rename

    def expr(self, node: P.Node) -> str:
        """Plain text for one node."""
        return getattr(self, "_" + type(node).__name__)(node)

    def _Ref(self, node: P.Ref) -> str:
        return self.rename.get(node.name, node.name)

    def _MatMul(self, node: P.MatMul) -> str:
        return f"{self.expr(node.left)} {self.expr(node.right)}"

    def _AddBias(self, node: P.AddBias) -> str:
        return f"{self.expr(node.arg)} + {self.expr(node.bias)}"

    def _Activate(self, node: P.Activate) -> str:
        return f"{node.activation}({self.expr(node.arg)})"

    def _Link(self, node: P.Link) -> str:
        return f"{node.kind}({self.expr(node.arg)})"


def _vector_names(prog: P.Program) -> dict[str, str]:
    """X -> x, Z1 -> z1, H1 -> h1, and the prediction -> yhat (the logits keep z_L)."""
    out = {names.INPUTS: names.sample_input()}
    for k in range(1, prog.depth + 1):
        out[names.pre_activation(k)] = names.sample_z(k)
        out[names.activation(k, prog.depth)] = names.sample_h(k, prog.depth)
    if (
        prog.prediction != names.OUTPUTS
    ):  # a link: Y is the logits z_L, P the prediction
        out[names.OUTPUTS] = names.sample_z(prog.depth)
        out[prog.prediction] = names.sample_h(prog.depth, prog.depth)
    return out


def forward_math(d: Derivation) -> list[str]:
    """One sample's forward pass, a layer a line: `z1 = W1 x + b1,   h1 = relu(z1)`."""
    prog = d.program_for("columns")
    rename = _vector_names(prog)
    printer = VectorPrinter(rename)
    steps = {(s.layer, s.role): s for s in prog.forward}
    out = []
    for k in range(1, prog.depth + 1):
        z, h = steps[k, P.PRE_ACTIVATION], steps[k, P.ACTIVATION]
        if k == prog.depth and prog.prediction != names.OUTPUTS:
            h = steps[k, P.PREDICTION]
        line = f"{rename[z.name]} = {printer.expr(z.expr)},   "
        out.append(line + f"{rename[h.name]} = {printer.expr(h.expr)}")
    if prog.prediction != names.OUTPUTS:
        out[-1] += (
            f"   (the loss takes the logits z{prog.depth}; yhat, {names.PREDICTION} in "
            "the code, is the prediction)"
        )
    return out
