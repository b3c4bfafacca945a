"""Equations in the student's notation: a tree printed NumPy-like, maths-like or in LaTeX, and
the derivation's Program step turned into such a tree (the correct equation to show)."""

from __future__ import annotations

import re

import sympy as sp

from ....derive import YHAT, H, T, Z
from ....derive import program as P
from ....derive.rules import W
from ....spec import names
from . import ast as A

STYLES = ("numpy", "maths", "latex")
_PREC = {"+": 1, "-": 1, "mul": 2, "/": 2, "matmul": 2, "**": 4}


def style_of(text: str, latex: bool) -> str:
    """The notation a line is written in."""
    if latex:
        return "latex"
    return "numpy" if re.search(r"np\.|@|\.T\b|\.dot\(", text) else "maths"


def show(node: A.Node, style: str, layout: str | None = None) -> str:
    """A tree as text in one notation; with a `layout` its LaTeX layers are W^{(2)} (rows) or
    W^{[2]} (columns, also the default) and a NumPy sum over the samples names its axis."""
    return _Printer(style, layout).p(node)[0]


class _Printer:
    def __init__(self, style: str, layout: str | None = None) -> None:
        self.s = style
        self.layout = layout
        self.brackets = "()" if layout == "rows" else "[]"

    def name(self, text: str, top: bool = False) -> str:
        if self.s != "latex":
            return text
        if text == "Yhat":
            return r"\hat{Y}" + (r"^{\top}" if top else "")
        m = re.fullmatch(r"(d?[A-Za-z]+?)(\d+)", text)
        mark = r"\top" if top else ""
        if not m:
            return text + (f"^{{{mark}}}" if top else "")
        left, right = self.brackets
        return f"{m.group(1)}^{{{left}{m.group(2)}{right}{mark}}}"

    def wrap(self, node: A.Node, prec: int) -> str:
        text, p = self.p(node)
        if p >= prec:
            return text
        return rf"\left({text}\right)" if self.s == "latex" else f"({text})"

    def p(self, node: A.Node) -> tuple[str, int]:
        s = self.s
        if isinstance(node, A.Name):
            return self.name(node.text), 5
        if isinstance(node, A.Num):
            v = node.value
            return (str(int(v)) if v == int(v) else repr(v)), 5
        if isinstance(node, A.Neg):
            return "-" + self.wrap(node.arg, 3), 3
        if isinstance(node, A.Transpose):
            if s == "latex" and isinstance(node.arg, A.Name):
                return self.name(node.arg.text, top=True), 5
            mark = {"numpy": ".T", "maths": "^T", "latex": r"^{\top}"}[s]
            return self.wrap(node.arg, 5) + mark, 5
        if isinstance(node, A.Binary):
            return self._binary(node), _PREC[node.op]
        if isinstance(node, A.Sum):
            return self._sum(node), 5
        if isinstance(node, A.Compare):
            op = _LATEX_OPS.get(node.op, node.op) if s == "latex" else node.op
            inner = f"{self.p(node.left)[0]} {op} {self.p(node.right)[0]}"
            if s == "latex":
                return rf"\mathbf{{1}}[{inner}]", 5
            return (f"({inner})" if s == "numpy" else f"1[{inner}]"), 5
        if isinstance(node, A.Where):
            if s == "latex":  # entrywise cases, the condition without its indicator
                cond = self.p(node.cond)[0]
                cond = cond.removeprefix(r"\mathbf{1}[").removesuffix("]")
                a, b = self.p(node.a)[0], self.p(node.b)[0]
                return (
                    rf"\begin{{cases}} {a} & \text{{if }} {cond} \\ {b} & "
                    r"\text{otherwise} \end{cases}",
                    5,
                )
            parts = ", ".join(self.p(n)[0] for n in (node.cond, node.a, node.b))
            return ("np.where" if s == "numpy" else "where") + f"({parts})", 5
        assert isinstance(node, A.Call)
        args = ", ".join(self.p(a)[0] for a in node.args)
        func = node.func + (str(node.layer) if node.func == "g" and node.layer else "")
        if (
            s == "numpy"
            and not node.prime
            and node.func in ("exp", "log", "tanh", "sqrt")
        ):
            func = "np." + func
        if s == "latex":
            if node.func == "abs" and not node.prime:
                return rf"\left\lvert {args} \right\rvert", 5
            func = {
                "sigmoid": r"\sigma",
                "tanh": r"\tanh",
                "exp": r"\exp",
                "log": r"\log",
                "sign": r"\operatorname{sign}",
            }.get(node.func, func)
        elif s == "numpy" and node.func in ("abs", "sign") and not node.prime:
            func = "np." + func
        return f"{func}{chr(39) if node.prime else ''}({args})", 5

    def _binary(self, node: A.Binary) -> str:
        prec = _PREC[node.op]
        left = self.wrap(node.left, prec)
        right = self.wrap(node.right, prec + (node.op in ("-", "/", "**")))
        scalar = isinstance(node.left, A.Num) or _is_fraction(node.left)
        if node.op == "mul" and scalar and self.s == "latex":  # 0.1 W, not 0.1 odot W
            return f"{left}\\,{right}"
        if node.op == "matmul":
            if self.s == "numpy":
                return f"{left} {'*' if scalar else '@'} {right}"
            return f"{left}\\,{right}" if self.s == "latex" else f"{left} {right}"
        if node.op == "/" and self.s == "latex":
            return rf"\frac{{{self.p(node.left)[0]}}}{{{self.p(node.right)[0]}}}"
        if node.op == "**" and self.s == "latex":
            base = self.p(node.left)
            shown = (
                base[0]
                if isinstance(node.left, A.Num)
                or (isinstance(node.left, A.Name) and "^" not in base[0])
                else rf"\left({base[0]}\right)"
            )
            return f"{shown}^{{{self.p(node.right)[0]}}}"
        if (
            node.op == "/"
            and isinstance(node.left, A.Num)
            and isinstance(node.right, A.Name)
        ):
            return f"{left}/{right}"
        op = {"mul": {"numpy": "*", "maths": "*", "latex": r"\odot"}[self.s]}.get(
            node.op, node.op
        )
        return f"{left} {op} {right}"

    def _sum(self, node: A.Sum) -> str:
        arg = self.p(node.arg)[0]
        if self.s == "numpy" or node.axis not in (None,):
            func = "np.mean" if node.mean else "np.sum"
            axis, keepdims = node.axis, node.keepdims
            if axis is None and self.layout is not None:  # over the samples
                axis = 1 if self.layout == "columns" else 0
                keepdims = self.layout == "columns"
            keep = ", keepdims=True" if keepdims else ""
            axis_text = "" if axis is None else f", axis={axis}"
            return f"{func}({arg}{axis_text}{keep})"
        if self.s == "latex":
            i, n = ("n", "N") if self.layout == "rows" else ("i", "m")
            return rf"\sum_{{{i}=1}}^{{{n}}} {self.wrap(node.arg, 5)}"
        return f"Σ {self.wrap(node.arg, 5)}"


_LATEX_OPS = {"<=": r"\le", ">=": r"\ge", "!=": r"\ne", "==": "="}


def _is_fraction(node: A.Node) -> bool:
    return (
        isinstance(node, A.Binary) and node.op == "/" and isinstance(node.left, A.Num)
    )


def program_tree(
    prog: P.Program,
    node: P.Node,
    rename: dict[str, str],
    inputs_first: bool,
) -> A.Node:
    """A Program node as an equation tree over the course's names (`rename`: program name ->
    the name the student uses); W is transposed back for CS231n's (inputs, units) weights."""

    def go(n: P.Node) -> A.Node:
        if isinstance(n, P.Ref):
            leaf = A.Name(rename.get(n.name, n.name))
            if inputs_first and (parsed := names.parse(n.name)) and parsed.kind == "W":
                return transpose(leaf)
            return leaf
        if isinstance(n, P.MatMul):
            return A.Binary("matmul", go(n.left), go(n.right))
        if isinstance(n, P.Transpose):
            return transpose(go(n.arg))
        if isinstance(n, P.Hadamard):
            return A.Binary("mul", go(n.left), go(n.right))
        if isinstance(n, P.SumSamples):
            return A.Sum(go(n.arg), None, True)
        if isinstance(n, P.Mean):
            return go(n.arg)
        if isinstance(n, P.Derivative):
            return rule_tree(n.rule, {Z: go(n.z), H: go(n.h)})
        if isinstance(n, P.OutputError):
            return rule_tree(
                n.rule, {Z: go(n.z), YHAT: go(n.prediction), T: go(n.target)}
            )
        if isinstance(
            n, P.PenaltyGrad
        ):  # the data term plus the penalty's: ... + 0.1 W1
            return A.Binary("+", go(n.arg), rule_tree(n.rule, {W: go(n.weight)}))
        raise TypeError(type(n).__name__)

    return go(node)


def transpose(node: A.Node) -> A.Node:
    """A tree transposed, pushed through products: (a b)^T = b^T a^T, (a^T)^T = a."""
    if isinstance(node, A.Transpose):
        return node.arg
    if isinstance(node, A.Binary) and node.op == "matmul":
        return A.Binary("matmul", transpose(node.right), transpose(node.left))
    return A.Transpose(node)


def rule_tree(expr: sp.Expr, leaves: dict[sp.Symbol, A.Node]) -> A.Node:
    """An entrywise SymPy rule (in Z, H, YHAT, T) as a tree: h*(1 - h) -> A1 * (1 - A1)."""
    if expr in leaves:
        return leaves[expr]
    if expr.is_Number:
        value = float(expr)
        return A.Neg(A.Num(-value)) if value < 0 else A.Num(value)
    if isinstance(expr, sp.Heaviside):
        op = ">=" if expr.args[1] == 1 else ">"
        return A.Compare(op, rule_tree(expr.args[0], leaves), A.Num(0.0))
    if expr.is_Add:
        terms = sorted(expr.args, key=lambda t: t.could_extract_minus_sign())
        node = rule_tree(terms[0], leaves)
        for t in terms[1:]:
            if t.could_extract_minus_sign():
                node = A.Binary("-", node, rule_tree(-t, leaves))
            else:
                node = A.Binary("+", node, rule_tree(t, leaves))
        return node
    if expr.is_Mul:
        if expr.could_extract_minus_sign():
            return A.Neg(rule_tree(-expr, leaves))
        factors = [rule_tree(f, leaves) for f in expr.args]
        node = factors[0]
        for f in factors[1:]:
            node = A.Binary("mul", node, f)
        return node
    if expr.is_Pow:
        return A.Binary("**", rule_tree(expr.base, leaves), rule_tree(expr.exp, leaves))
    if isinstance(
        expr, sp.Piecewise
    ):  # a formula loss's where(...): the first true branch
        (first, cond), *rest = expr.args
        if cond == sp.true:
            return rule_tree(first, leaves)
        other = rule_tree(sp.Piecewise(*rest), leaves) if rest else A.Num(0.0)
        return A.Where(rule_tree(cond, leaves), rule_tree(first, leaves), other)
    if isinstance(expr, sp.core.relational.Relational):
        return A.Compare(
            expr.rel_op, rule_tree(expr.lhs, leaves), rule_tree(expr.rhs, leaves)
        )
    if isinstance(expr, sp.Function) and len(expr.args) == 1:
        return A.Call(type(expr).__name__.lower(), (rule_tree(expr.args[0], leaves),))
    raise TypeError(f"no tree for {expr}")
