"""LaTeX for the derivation document: SymPy's printer in our notation, and the document's data.

SymPy objects stop here: `document_data` turns a Derivation and the loaded trainer into plain
dataclasses of already-printed LaTeX strings, which templates/derivation.tex.jinja lays out.
"""

from __future__ import annotations

import ast
import math
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter

from .. import __version__
from ..derive import YHAT, Derivation, H, LayerRule, T, Z
from ..spec import registry
from . import numpy as printing

# Per-element closed forms, per-unit equations and per-unit error signals are printed up to
# this many parameters (the symbolic-proof limit); past it the per-layer general forms say it
# all, and pages of near-identical formulas would not.
ELEMENT_LIMIT = 40
# The network drawing shows at most this many units per layer (first ones, a vertical ellipsis,
# the last one).
DRAW_LIMIT = 6
# Numeric matrices show at most this many rows and columns (first ones, dots, the last one).
SHOW_ROWS = 5
SHOW_COLS = 5
# Estimated width, in characters of maths, of the right-hand side of one display line.
LINE_WIDTH = 58
# The loss curve plots at most this many points (evenly spaced epochs, always the last).
PLOT_POINTS = 200

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "`": r"\textasciigrave{}",
    "-": "-{}",  # so -- and --- stay hyphens (a flag), not dashes
}


def escape_tex(text: str) -> str:
    """User text (a title, a parameter name, a checker message) as LaTeX that prints it as is."""
    out = "".join(_TEX_SPECIAL.get(c, c) for c in str(text))
    # keep the text on one line of the .tex, so a stray newline cannot end a paragraph mid-cell
    return " ".join(out.split())


def code_tex(code: str) -> str:
    """A line of Python shown in typewriter type, escaped, breakable only at spaces."""
    return r"\texttt{" + escape_tex(code) + "}"


# --------------------------------------------------------------------------- symbol names

_SYMBOL = re.compile(r"^(W|b|z|h|delta)(\d+)_([A-Za-z0-9]+)(?:_([A-Za-z0-9]+))?$")
_VECTOR = re.compile(r"^(x|y|yhat)_([A-Za-z0-9]+)$")
_PLACEHOLDERS = {Z.name: "z", H.name: "h", YHAT.name: r"\hat{y}", T.name: "y"}
_LETTER = {"W": "w", "b": "b", "z": "z", "h": "h", "delta": r"\delta"}


def _indices(*parts: str) -> str:
    """Subscripts as students write them: 12 for (1, 2), but 1,12 once an index has two digits."""
    parts = tuple(p for p in parts if p)
    return "".join(parts) if all(len(p) == 1 for p in parts) else ",".join(parts)


def symbol_tex(name: str) -> str:
    """W1_1_2 -> w^{(1)}_{12}, b1_1 -> b^{(1)}_{1}, yhat_1 -> \\hat{y}_{1}, x_1 -> x_{1}."""
    if name in _PLACEHOLDERS:
        return _PLACEHOLDERS[name]
    m = _SYMBOL.match(name)
    if m:
        kind, layer, i, j = m.groups()
        return f"{_LETTER[kind]}^{{({layer})}}_{{{_indices(i, j or '')}}}"
    m = _VECTOR.match(name)
    if m:
        kind, i = m.groups()
        return (r"\hat{y}" if kind == "yhat" else kind) + f"_{{{i}}}"
    m = re.fullmatch(r"([A-Za-z])(?:_([A-Za-z0-9]+))?", name)
    if m:  # an index (i, k, n, N) or a plain subscripted letter (L_n)
        return m.group(1) + (f"_{{{m.group(2)}}}" if m.group(2) else "")
    raise ValueError(f"no LaTeX name for symbol {name!r}")


_ARRAY = re.compile(r"^(W|b|Z|H|dZ|gW|gb|z|h|delta)(\d+)$")


def array_tex(name: str, link: bool = False) -> str:
    """The maths name of a trainer array or a per-layer vector: W1 -> W^{(1)}, dZ2 -> Delta^{(2)}.

    With a loss that has a link (softmax, sigmoid), the trainer's Y holds the logits and P the
    predictions; the document calls the predictions hat{Y}, as in the closed forms.
    """
    fixed = {
        "X": "X",
        "y": "Y",
        "Y": r"\hat{Y}",
        "n": "N",
        "x": "x",
        "yhat": r"\hat{y}",
    }
    if link:
        fixed.update({"Y": r"\tilde{Y}", "P": r"\hat{Y}"})
    if name in fixed:
        return fixed[name]
    m = _ARRAY.match(name)
    if not m:
        raise ValueError(f"no LaTeX name for array {name!r}")
    kind, layer = m.groups()
    sup = f"^{{({layer})}}"
    return {
        "W": f"W{sup}",
        "b": f"b{sup}",
        "Z": f"Z{sup}",
        "H": f"H{sup}",
        "dZ": rf"\Delta{sup}",
        "gW": rf"\partial\mathcal{{L}}/\partial W{sup}",
        "gb": rf"\partial\mathcal{{L}}/\partial b{sup}",
        "z": f"z{sup}",
        "h": f"h{sup}",
        "delta": rf"\delta{sup}",
    }[kind]


def transpose_tex(base: str) -> str:
    """A^T, merging into an existing superscript: W^{(2)} -> W^{(2)\\top}."""
    m = re.fullmatch(r"(\\?[A-Za-z]+(?:\{[^{}]*\})?)\^\{([^{}]*)\}", base)
    if m:
        return f"{m.group(1)}^{{{m.group(2)}\\top}}"
    if re.fullmatch(r"\\?[A-Za-z]+(\{[^{}]*\})?", base):
        return base + r"^{\top}"
    return rf"\bigl({base}\bigr)^{{\top}}"


class DocumentPrinter(LatexPrinter):
    """SymPy's LaTeX in the document's notation: 1[z > 0] for the step, w^{(1)}_{12}, yhat - y."""

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        named = self._settings["symbol_names"].get(expr)
        return named if named is not None else symbol_tex(expr.name)

    def _print_Heaviside(self, expr: sp.Heaviside, exp: object = None) -> str:
        arg, at_zero = expr.args
        relation = {0: ">", 1: r"\ge"}.get(at_zero)
        if relation is None:
            return super()._print_Heaviside(expr, exp)
        tex = rf"\mathbf{{1}}[{self._print(arg)} {relation} 0]"
        return rf"\left({tex}\right)^{{{exp}}}" if exp else tex

    def _print_expm1(self, expr: sp.Function, exp: object = None) -> str:
        # the trainer's np.expm1 (accurate near 0), shown as the maths it computes
        tex = rf"\left(e^{{{self._print(expr.args[0])}}} - 1\right)"
        return rf"{tex}^{{{exp}}}" if exp else tex

    def _print_Max(self, expr: sp.Max, exp: object = None) -> str:
        # max(z, 0) as the trainer writes np.maximum(Z, 0): the variable first
        args = sorted(expr.args, key=lambda a: a.is_number)
        tex = r"\max(" + ", ".join(self._print(a) for a in args) + ")"
        return rf"{tex}^{{{exp}}}" if exp else tex

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        terms = ordered_terms(self, expr, order)
        tex = ""
        for i, term in enumerate(terms):
            if i and term.could_extract_minus_sign():
                tex += " - "
                term = -term
            elif i:
                tex += " + "
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = rf"\left({term_tex}\right)"
            tex += term_tex
        return tex


def ordered_terms(
    printer: LatexPrinter, expr: sp.Add, order: str | None = None
) -> list:
    """SymPy's term order, positive terms first: yhat - y rather than -y + yhat."""
    terms = list(printer._as_ordered_terms(expr, order=order))
    return [t for t in terms if not t.could_extract_minus_sign()] + [
        t for t in terms if t.could_extract_minus_sign()
    ]


_PRINTER = DocumentPrinter()


def tex(expr: sp.Basic, names: dict[sp.Symbol, str] | None = None) -> str:
    """One expression in the document's notation (`names` overrides some symbols' LaTeX)."""
    if names:
        return DocumentPrinter({"symbol_names": names}).doprint(expr)
    return _PRINTER.doprint(expr)


def visual_width(latex: str) -> int:
    """A rough count of the glyphs a piece of maths prints (for line breaking, not layout)."""
    s = re.sub(
        r"\\(left|right|[Bb]igl|[Bb]igr|mathbf|mathcal|hat|operatorname)\b", "", latex
    )
    s = re.sub(r"\^\{\((\d+)\)\\?(top)?\}", lambda m: "x" * (len(m.group(1)) + 1), s)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    s = re.sub(r"[{}_^ ]|\\,|\\;|\\!", "", s)
    return len(s)


def _pack(chunks: Sequence[str], width: int) -> list[str]:
    lines: list[str] = []
    for chunk in chunks:
        if lines and visual_width(lines[-1] + chunk) <= width:
            lines[-1] += " " + chunk
        else:
            lines.append(chunk)
    return lines


def _cont(lines: Sequence[str]) -> tuple[str, ...]:
    """Display lines after the first, indented past the relation sign."""
    return (lines[0], *[r"\quad " + line for line in lines[1:]])


def broken(expr: sp.Expr, width: int = LINE_WIDTH) -> list[str]:
    """Print `expr` as display lines of about `width` glyphs, split at + and - and between
    factors; a parenthesis that has to span lines is a fixed-size \\bigl( ... \\bigr)."""
    return _pack(_chunks(expr, width, 0), width)


def _chunks(expr: sp.Expr, width: int, depth: int) -> list[str]:
    """Pieces of `expr` between which a line may break (one piece when it fits)."""
    whole = tex(expr)
    if visual_width(whole) <= width:
        return [whole]
    if isinstance(expr, sp.Add):
        out: list[str] = []
        for i, term in enumerate(ordered_terms(_PRINTER, expr)):
            negative = term.could_extract_minus_sign()
            sign = ("- " if i else "-") if negative else ("+ " if i else "")
            parts = _chunks(-term if negative else term, width, depth)
            out += [sign + parts[0], *parts[1:]]
        return out
    if isinstance(expr, sp.Mul):
        if expr.could_extract_minus_sign():
            parts = _chunks(-expr, width, depth)
            return ["-" + parts[0], *parts[1:]]
        coeff, rest = expr.as_coeff_Mul()
        small: list[str] = [] if coeff == 1 else [tex(coeff)]
        big: list[list[str]] = []  # each: the pieces of a factor too wide for one line
        left, right = (r"\Bigl(", r"\Bigr)") if depth == 0 else (r"\bigl(", r"\bigr)")
        for factor in rest.as_ordered_factors():
            piece = tex(factor)
            if _PRINTER._needs_mul_brackets(factor, first=False, last=False):
                if visual_width(piece) > width:
                    parts = _chunks(factor, width, depth + 1)
                    parts = [left + parts[0], *parts[1:]]
                    parts[-1] += right
                    # small factors before this one stay on its first line
                    if small:
                        parts[0] = " ".join(small) + " " + parts[0]
                        small = []
                    big.append(parts)
                    continue
                piece = rf"\left({piece}\right)"
            if big:  # small factors after a broken one stay on its last line
                big[-1][-1] += " " + piece
            else:
                small.append(piece)
        if not big:
            return small
        return [piece for parts in big for piece in parts]
    return [whole]


# --------------------------------------------------------------------------- trainer code


@dataclass(frozen=True)
class _Tex:
    latex: str
    prec: int  # 1 sum, 2 product, 3 unary, 4 atom
    kind: str  # matrix, vector, scalar
    op: str = ""  # the operator at the top, to keep matmul and entrywise products apart


def _is_vector(name: str) -> bool:
    return re.fullmatch(r"b\d+|gb\d+", name) is not None


def _paren(t: _Tex, prec: int, op: str = "") -> str:
    if t.prec < prec or (op and t.op and t.op != op and t.prec == 2):
        return rf"\bigl({t.latex}\bigr)"
    return t.latex


_FUNCTIONS = {
    "exp": r"\exp",
    "log": r"\log",
    "tanh": r"\tanh",
    "abs": "",
    "sqrt": r"\sqrt",
}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    return ""


def _code_expr(node: ast.expr, link: bool = False) -> _Tex:
    """Translate one NumPy expression of the trainer, operation by operation, into maths."""

    def sub(n: ast.expr) -> _Tex:
        return _code_expr(n, link)

    if isinstance(node, ast.Name):
        kind = (
            "scalar"
            if node.id == "n"
            else "vector"
            if _is_vector(node.id)
            else "matrix"
        )
        return _Tex(array_tex(node.id, link), 4, kind)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return _Tex(str(node.value), 4, "scalar")
    if isinstance(node, ast.Attribute) and node.attr == "T":
        inner = sub(node.value)
        base = inner.latex if inner.prec == 4 else rf"\bigl({inner.latex}\bigr)"
        return _Tex(transpose_tex(base), 4, inner.kind)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = sub(node.operand)
        return _Tex("-" + _paren(inner, 2), 3, inner.kind)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        rel = {ast.Gt: ">", ast.GtE: r"\ge", ast.Lt: "<", ast.LtE: r"\le"}.get(
            type(node.ops[0])
        )
        if rel is not None:
            left, right = sub(node.left), sub(node.comparators[0])
            return _Tex(
                rf"\mathbf{{1}}[{left.latex} {rel} {right.latex}]", 4, left.kind
            )
    if isinstance(node, ast.Call):
        return _call(node, link)
    if isinstance(node, ast.BinOp):
        left, right = sub(node.left), sub(node.right)
        kind = left.kind if left.kind != "scalar" else right.kind
        if isinstance(node.op, ast.MatMult):
            return _Tex(
                f"{_paren(left, 2, '@')}\\,{_paren(right, 2, '@')}", 2, "matrix", "@"
            )
        if isinstance(node.op, ast.Mult):
            if "scalar" in (left.kind, right.kind):
                return _Tex(f"{_paren(left, 2)}\\,{_paren(right, 2)}", 2, kind, "*s")
            return _Tex(
                rf"{_paren(left, 2, 'odot')} \odot {_paren(right, 2, 'odot')}",
                2,
                "matrix",
                "odot",
            )
        if isinstance(node.op, ast.Div):
            return _Tex(rf"\frac{{{left.latex}}}{{{right.latex}}}", 4, kind)
        if isinstance(node.op, ast.Pow):
            base = left.latex if left.prec == 4 else rf"\bigl({left.latex}\bigr)"
            if re.search(r"\^\{[^{}]*\}$", base):
                base = rf"\bigl({base}\bigr)"
            return _Tex(f"{base}^{{{right.latex}}}", 4, kind)
        if isinstance(node.op, ast.Add | ast.Sub):
            sign = "+" if isinstance(node.op, ast.Add) else "-"
            r = right.latex if isinstance(node.op, ast.Add) else _paren(right, 2)
            if left.kind == "matrix" and right.kind == "vector":
                # NumPy adds a (units,) vector to every row: that is 1_N b^T
                r = r"\mathbf{1}_N\," + transpose_tex(r)
            return _Tex(f"{left.latex} {sign} {r}", 1, kind)
    raise ValueError(f"cannot show this trainer code as maths: {ast.unparse(node)!r}")


def _call(node: ast.Call, link: bool) -> _Tex:
    """NumPy calls: max, exp, log, tanh, logaddexp, column sums; others by their name."""
    args = [_code_expr(a, link) for a in node.args]
    kwargs = {k.arg: _code_expr(k.value, link) for k in node.keywords if k.arg}
    name = _dotted(node.func)
    kind = next((a.kind for a in args if a.kind != "scalar"), "matrix")
    if name in ("np.maximum", "np.minimum") and len(args) == 2 and not kwargs:
        op = r"\max" if name == "np.maximum" else r"\min"
        return _Tex(f"{op}({args[0].latex}, {args[1].latex})", 4, kind)
    if (
        name.startswith("np.")
        and name[3:] in _FUNCTIONS
        and len(args) == 1
        and not kwargs
    ):
        f = _FUNCTIONS[name[3:]]
        if f == r"\sqrt":
            return _Tex(rf"\sqrt{{{args[0].latex}}}", 4, kind)
        if f == "":
            return _Tex(rf"\lvert {args[0].latex} \rvert", 4, kind)
        return _Tex(rf"{f}\bigl({args[0].latex}\bigr)", 4, kind)
    if name == "np.where" and len(node.args) == 3 and not kwargs:
        cond = node.args[0]
        if isinstance(cond, ast.Compare) and len(cond.ops) == 1:
            rel = {ast.Gt: ">", ast.GtE: r"\ge", ast.Lt: "<", ast.LtE: r"\le"}.get(
                type(cond.ops[0]), "?"
            )
            c = f"{_code_expr(cond.left, link).latex} {rel} {_code_expr(cond.comparators[0], link).latex}"
        else:
            c = args[0].latex
        return _Tex(
            rf"\operatorname{{where}}({c},\ {args[1].latex},\ {args[2].latex})", 4, kind
        )
    if name == "np.logaddexp" and len(args) == 2 and not kwargs:
        a, b = args
        return _Tex(rf"\log\bigl(e^{{{a.latex}}} + e^{{{b.latex}}}\bigr)", 4, kind)
    if (
        isinstance(node.func, ast.Attribute)
        and node.func.attr == "sum"
        and not args
        and set(kwargs) == {"axis"}
        and kwargs["axis"].latex == "0"
    ):
        inner = _code_expr(node.func.value, link)
        base = inner.latex if inner.prec == 4 else rf"\bigl({inner.latex}\bigr)"
        return _Tex(transpose_tex(base) + r"\,\mathbf{1}_N", 2, "vector", "@")
    if isinstance(node.func, ast.Attribute) and not name.startswith("np."):
        # a method of an array: x.f(...) is shown as f(x, ...)
        args = [_code_expr(node.func.value, link), *args]
        name = node.func.attr
    shown = ", ".join(
        [a.latex for a in args]
        + [rf"\text{{{escape_tex(k)}}}={v.latex}" for k, v in kwargs.items()]
    )
    label = escape_tex(name[3:] if name.startswith("np.") else name)
    return _Tex(rf"\operatorname{{{label}}}({shown})", 4, kind)


def statement_tex(code: str, link: bool = False) -> str:
    """`gW1 = dZ1.T @ X` as maths: dL/dW^{(1)} = Delta^{(1)T} X (exactly the same computation)."""
    tree = ast.parse(code, mode="exec").body
    if (
        len(tree) != 1
        or not isinstance(tree[0], ast.Assign)
        or len(tree[0].targets) != 1
    ):
        raise ValueError(f"not a single assignment: {code!r}")
    target = tree[0].targets[0]
    if not isinstance(target, ast.Name):
        raise ValueError(f"not an assignment to a name: {code!r}")
    return f"{array_tex(target.id, link)} = {_code_expr(tree[0].value, link).latex}"


# --------------------------------------------------------------------------- numbers


def number_tex(x: float) -> str:
    """4 decimals, or a power of ten for the very small and very large; never -0.0000."""
    x = float(x)
    if not math.isfinite(x):
        return (
            r"\text{"
            + ("NaN" if math.isnan(x) else ("-" if x < 0 else "") + "inf")
            + "}"
        )
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4f}"
    mantissa, exponent = f"{x:.3e}".split("e")
    return rf"{mantissa}\times 10^{{{int(exponent)}}}"


def _shown(n: int, limit: int) -> list[int | None]:
    """Indices to show of n (None = an ellipsis): all, or the first limit-2, dots, the last."""
    if n <= limit:
        return list(range(n))
    return list(range(limit - 2)) + [None, n - 1]


def matrix_tex(values: np.ndarray, rows: int = SHOW_ROWS, cols: int = SHOW_COLS) -> str:
    """A numeric matrix (a 1-D array is shown as a column) with large sizes elided by dots."""
    a = np.asarray(values, dtype=float)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim == 0:
        return number_tex(float(a))
    lines = []
    rshow, cshow = _shown(a.shape[0], rows), _shown(a.shape[1], cols)
    for r in rshow:
        cells = []
        for c in cshow:
            if r is None:
                cells.append(r"\vdots" if c is not None else r"\ddots")
            else:
                cells.append(r"\cdots" if c is None else number_tex(a[r, c]))
        lines.append(" & ".join(cells))
    return r"\begin{pmatrix}" + r" \\ ".join(lines) + r"\end{pmatrix}"


def shape_tex(shape: Sequence[int | str]) -> str:
    """(2, 3) -> 2 \\times 3; () -> scalar."""
    if not shape:
        return r"\text{scalar}"
    return r" \times ".join(str(s) for s in shape)


# --------------------------------------------------------------------------- document data


@dataclass(frozen=True)
class SymbolRow:
    """One row of the notation table: maths, trainer name, meaning, shape (all LaTeX)."""

    symbol: str
    code: str
    meaning: str
    shape: str


@dataclass(frozen=True)
class Display:
    """One display equation: `lhs = rhs[0]`, continued on rhs[1:], with an optional remark."""

    lhs: str
    rhs: tuple[str, ...]
    remark: str = ""
    relation: str = "="


@dataclass(frozen=True)
class CodeRow:
    """One trainer statement: the maths it computes, the result's shape, and the code itself."""

    maths: str
    shape: str
    code: str
    comment: str
    chars: int = 0  # the code's length in characters, before escaping


@dataclass(frozen=True)
class Node:
    """A unit in the network drawing (label is maths)."""

    name: str
    at: str
    label: str
    style: str


@dataclass(frozen=True)
class Edge:
    """An arrow of the drawing, between two node names (in parentheses, as TikZ wants)."""

    start: str
    end: str


@dataclass(frozen=True)
class Caption:
    """Text placed in the drawing (a layer's name, its parameters)."""

    at: str
    text: str


@dataclass(frozen=True)
class Drawing:
    """The TikZ network, every position already computed."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    captions: tuple[Caption, ...]
    note: str


@dataclass(frozen=True)
class Pair:
    """Up to two named values shown side by side in the worked example."""

    items: tuple[Display, ...]


@dataclass(frozen=True)
class LossCurve:
    """The training run's loss for the pgfplots figure."""

    coordinates: str
    log_scale: bool
    epochs: int
    first: str
    last: str
    note: str = ""


@dataclass(frozen=True)
class NotebookRow:
    """One quantity the seed notebook prints at epoch 1, next to the correct value."""

    name: str
    printed: str
    correct: str
    agrees: bool


@dataclass(frozen=True)
class NotebookCheck:
    """The "Checking the notebook" section: epoch-1 comparison and the mistakes, as LaTeX."""

    rows: tuple[NotebookRow, ...]
    findings: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class DerivationDocument:
    """Everything templates/derivation.tex.jinja shows, as LaTeX strings."""

    header: tuple[str, ...]
    creator: str
    creator_pdf: str
    title: str
    summary: str
    layers_text: str
    drawing: Drawing
    symbols: tuple[SymbolRow, ...]
    conventions: str
    activation_defs: tuple[Display, ...]
    forward_general: tuple[Display, ...]
    forward_units: tuple[Display, ...]
    forward_vector: tuple[Display, ...]
    forward_code: tuple[CodeRow, ...]
    forward_compact: bool
    loss_sample: Display
    loss_batch: Display
    loss_code: str
    reduction_text: str
    local: tuple[Display, ...]
    step_convention: str
    deltas_general: tuple[Display, ...]
    deltas_units: tuple[Display, ...]
    chain: tuple[Display, ...]
    elementwise: bool
    closed_forms: tuple[Display, ...]
    closed_forms_note: str
    general_note: str
    backward_code: tuple[CodeRow, ...]
    backward_compact: bool
    backward_vector: tuple[Display, ...]
    proof: str
    example_intro: str
    example_inputs: tuple[Pair, ...]
    example_forward: tuple[Pair, ...]
    example_loss: Display
    example_gradients: tuple[Pair, ...]
    example_updated: tuple[Pair, ...]
    lr: str
    curve: LossCurve
    notebook: NotebookCheck | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _range(index: str, n: int) -> str:
    """$i = 1, \\dots, n$ as a remark (just $i = 1$ for a single unit)."""
    return f"${index} = 1$" if n == 1 else f"${index} = 1, \\dots, {n}$"


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _partial(num: str, den: str) -> str:
    return rf"\frac{{\partial {num}}}{{\partial {den}}}"


def _act_tex(rule: LayerRule) -> str:
    return registry.activation(rule.activation).latex


LINK_TEX = {"sigmoid": r"\sigma", "softmax": r"\operatorname{softmax}"}


def _layer_act_tex(d: Derivation, rule: LayerRule) -> str:
    """The function that gives a layer's output; for the last layer with a logit loss, the
    loss's link (the prediction yhat = link(z)), not the identity the layer itself applies."""
    link = registry.loss(d.spec.loss).link
    if link is not None and rule.index == len(d.layers):
        return LINK_TEX[link]
    return _act_tex(rule)


def _h_name(d: Derivation, layer: int, i: str) -> str:
    """The symbol name of unit i's output in `layer` (0: the input x, last: yhat)."""
    if layer == 0:
        return f"x_{i}"
    if layer == len(d.layers):
        return f"yhat_{i}"
    return f"h{layer}_{i}"


def _h_tex(d: Derivation, layer: int, i: str) -> str:
    return symbol_tex(_h_name(d, layer, i))


def _vec_h(d: Derivation, layer: int) -> str:
    return (
        "x"
        if layer == 0
        else r"\hat{y}"
        if layer == len(d.layers)
        else f"h^{{({layer})}}"
    )


def _entries(items: Sequence[str], limit: int = 4) -> str:
    """The entries of a vector or matrix as text, each its own formula so lines can break."""
    if len(items) > limit:
        items = [*items[:2], r"\dots", items[-1]]
    return ", ".join(f"${item}$" for item in items)


def _drawing(d: Derivation) -> Drawing:
    spec = d.spec
    depth = len(spec.layers) - 1
    xstep = min(3.4, 12.5 / depth)
    ystep = 1.25
    tallest = max(len(_shown(n, DRAW_LIMIT)) for n in spec.layers)
    nodes: list[Node] = []
    edges: list[Edge] = []
    captions: list[Caption] = []
    previous: list[str] = []
    top = (tallest - 1) * ystep / 2
    for layer, width in enumerate(spec.layers):
        shown = _shown(width, DRAW_LIMIT)
        x = layer * xstep
        names = []
        for pos, unit in enumerate(shown):
            y = ((len(shown) - 1) / 2 - pos) * ystep
            at = f"({x:.2f},{y:.2f})"
            if unit is None:
                nodes.append(Node(f"dots{layer}", at, r"\vdots", "dots"))
                continue
            name = f"n{layer}u{unit + 1}"
            style = "input" if layer == 0 else "output" if layer == depth else "hidden"
            nodes.append(Node(name, at, _h_tex(d, layer, str(unit + 1)), style))
            names.append(name)
        edges += [Edge(f"({a})", f"({b})") for a in previous for b in names]
        previous = names
        if layer == 0:
            label = rf"input\\{width} {'unit' if width == 1 else 'units'}"
        else:
            rule = d.layers[layer - 1]
            what = "output" if layer == depth else f"layer {layer}"
            units = "unit" if width == 1 else "units"
            label = rf"{what}\\{width} {units}, {escape_tex(rule.activation)}"
            captions.append(
                Caption(
                    f"({x - xstep / 2:.2f},{-top - 0.95:.2f})",
                    rf"$W^{{({layer})}},\ b^{{({layer})}}$",
                )
            )
        captions.append(Caption(f"({x:.2f},{top + 1.0:.2f})", label))
    wide = [n for n in spec.layers if n > DRAW_LIMIT]
    note = (
        f" Layers wider than {DRAW_LIMIT} units are drawn with their first {DRAW_LIMIT - 2} "
        "units, a vertical ellipsis and the last unit."
        if wide
        else ""
    )
    return Drawing(tuple(nodes), tuple(edges), tuple(captions), note)


def _symbols(d: Derivation) -> tuple[SymbolRow, ...]:
    spec = d.spec
    n_in, n_out, depth = spec.layers[0], spec.layers[-1], len(d.layers)
    rows = [
        SymbolRow(
            "$x$: " + _entries([symbol_tex(f"x_{j}") for j in range(1, n_in + 1)]),
            code_tex("X[n]"),
            "one input sample (row $n$ of $X$)",
            f"${shape_tex((n_in, 1))}$",
        ),
        SymbolRow(
            "$y$: " + _entries([symbol_tex(f"y_{k}") for k in range(1, n_out + 1)]),
            code_tex("y[n]"),
            "its target",
            f"${shape_tex((n_out, 1))}$",
        ),
    ]
    for rule in d.layers:
        l = rule.index  # noqa: E741 - the layer index, as in the notation W^(l)
        w_entries = [
            symbol_tex(f"W{l}_{i}_{j}")
            for i in range(1, rule.units + 1)
            for j in range(1, rule.fan_in + 1)
        ]
        b_entries = [symbol_tex(f"b{l}_{i}") for i in range(1, rule.units + 1)]
        src = "input" if l == 1 else f"unit $j$ of layer {l - 1}"
        rows.append(
            SymbolRow(
                f"$W^{{({l})}}$: {_entries(w_entries)}",
                code_tex(f"W{l}"),
                f"weights of layer {l}; ${symbol_tex(f'W{l}_i_j')}$ multiplies {src}"
                + (" $j$" if l == 1 else "")
                + " in unit $i$",
                f"${shape_tex((rule.units, rule.fan_in))}$",
            )
        )
        rows.append(
            SymbolRow(
                f"$b^{{({l})}}$: {_entries(b_entries)}",
                code_tex(f"b{l}"),
                f"biases of layer {l}, one per unit (the trainer stores shape ({rule.units},))",
                f"${shape_tex((rule.units, 1))}$",
            )
        )
        z_entries = [symbol_tex(f"z{l}_{i}") for i in range(1, rule.units + 1)]
        h_entries = [_h_tex(d, l, str(i)) for i in range(1, rule.units + 1)]
        rows.append(
            SymbolRow(
                f"$z^{{({l})}}$: {_entries(z_entries)}",
                code_tex(f"Z{l}[n]"),
                f"pre-activations of layer {l} for one sample",
                f"${shape_tex((rule.units, 1))}$",
            )
        )
        out = l == depth
        if out and _has_link(d):
            continue  # the logits are z^(L); the prediction row follows
        rows.append(
            SymbolRow(
                f"${_vec_h(d, l)}$: {_entries(h_entries)}",
                code_tex("Y[n]" if out else f"H{l}[n]"),
                ("the network's output, " if out else f"activations of layer {l}, ")
                + f"${_act_tex(rule)}(z^{{({l})}})$",
                f"${shape_tex((rule.units, 1))}$",
            )
        )
    if _has_link(d):
        link = escape_tex(str(registry.loss(spec.loss).link))
        rows.append(
            SymbolRow(
                r"$\hat{y}$",
                code_tex("P[n]"),
                f"the prediction: {link} of the logits $z^{{({depth})}}$, applied by the loss",
                f"${shape_tex((n_out, 1))}$",
            )
        )
    for rule in d.layers:
        l = rule.index  # noqa: E741
        rows.append(
            SymbolRow(
                rf"$\delta^{{({l})}}$: "
                + _entries(
                    [symbol_tex(f"delta{l}_{i}") for i in range(1, rule.units + 1)]
                ),
                code_tex(f"dZ{l}[n]"),
                rf"error signal of layer {l}: "
                rf"$\delta^{{({l})}}_i = \partial L / \partial z^{{({l})}}_i$",
                f"${shape_tex((rule.units, 1))}$",
            )
        )
    reduction = "summed" if spec.reduction == "sum" else "averaged"
    rows += [
        SymbolRow("$L$", "", "the loss of one sample", f"${shape_tex(())}$"),
        SymbolRow(
            r"$\mathcal{L}$",
            code_tex("loss(params, X, y)"),
            f"the loss of the batch: $L$ {reduction} over its samples",
            f"${shape_tex(())}$",
        ),
        SymbolRow("$N$", code_tex("X.shape[0]"), "number of samples in the batch", ""),
        SymbolRow(
            "$X$",
            code_tex("X"),
            "the batch's inputs; row $n$ is sample $n$",
            f"${shape_tex(('N', n_in))}$",
        ),
        SymbolRow(
            r"$Y,\ \hat{Y},\ \tilde{Y}$" if _has_link(d) else r"$Y,\ \hat{Y}$",
            code_tex("y, P, Y" if _has_link(d) else "y, Y"),
            "the batch's targets, predictions and logits"
            if _has_link(d)
            else "the batch's targets and outputs",
            f"${shape_tex(('N', n_out))}$",
        ),
    ]
    for rule in d.layers:
        l = rule.index  # noqa: E741
        names = (
            rf"$Z^{{({l})}},\ \Delta^{{({l})}}$"
            if l == depth
            else rf"$Z^{{({l})}},\ H^{{({l})}},\ \Delta^{{({l})}}$"
        )
        code = f"Z{l}, dZ{l}" if l == depth else f"Z{l}, H{l}, dZ{l}"
        rows.append(
            SymbolRow(
                names,
                code_tex(code),
                f"layer {l} for the whole batch: row $n$ holds sample $n$'s "
                rf"$z^{{({l})}}$"
                + ("" if l == depth else rf", $h^{{({l})}}$")
                + rf", $\delta^{{({l})}}$",
                f"${shape_tex(('N', rule.units))}$",
            )
        )
    rows += [
        SymbolRow(
            r"$\mathbf{1}_N$",
            "",
            "a column of $N$ ones (it sums over samples)",
            "$N \\times 1$",
        ),
        SymbolRow(
            r"$\mathbf{1}[\cdot]$", code_tex("(Z > 0)"), "1 where true, else 0", ""
        ),
        SymbolRow(r"$\odot$", code_tex("*"), "entrywise product", ""),
    ]
    return tuple(rows)


def _activation_defs(d: Derivation) -> tuple[Display, ...]:
    seen: dict[str, Display] = {}
    for rule in d.layers:
        if rule.activation not in seen:
            seen[rule.activation] = Display(
                f"{_act_tex(rule)}(z)", (tex(rule.forward),)
            )
    return tuple(seen.values())


def _forward(
    d: Derivation,
) -> tuple[tuple[Display, ...], tuple[Display, ...], tuple[Display, ...]]:
    general, units, vector = [], [], []
    j = sp.Symbol("j", integer=True, positive=True)
    for rule in d.layers:
        l = rule.index  # noqa: E741
        prev = _sym(_h_name(d, l - 1, "j"))
        total = sp.Sum(_sym(f"W{l}_i_j") * prev, (j, 1, rule.fan_in))
        general.append(
            Display(
                symbol_tex(f"z{l}_i"),
                (tex(total) + " + " + symbol_tex(f"b{l}_i"),),
                _range("i", rule.units),
            )
        )
        out = _h_name(d, l, "i")
        general.append(
            Display(
                symbol_tex(out),
                (f"{_layer_act_tex(d, rule)}({symbol_tex(f'z{l}_i')})",),
            )
        )
        prev_vec = _vec_h(d, l - 1)
        vector.append(
            Display(f"z^{{({l})}}", (f"W^{{({l})}} {prev_vec} + b^{{({l})}}",))
        )
        vector.append(
            Display(_vec_h(d, l), (f"{_layer_act_tex(d, rule)}(z^{{({l})}})",))
        )
        if d.scalar is not None and d.spec.param_count <= ELEMENT_LIMIT:
            W, b = d.scalar.params[f"W{l}"], d.scalar.params[f"b{l}"]
            for i in range(rule.units):
                terms = [
                    f"{tex(W[i, k])} {_h_tex(d, l - 1, str(k + 1))}"
                    for k in range(rule.fan_in)
                ]
                chunks = [terms[0]] + [f"+ {t}" for t in terms[1:]] + [f"+ {tex(b[i])}"]
                units.append(
                    Display(tex(d.scalar.z[l - 1][i]), _cont(_pack(chunks, LINE_WIDTH)))
                )
            link = registry.loss(d.spec.loss).link_expr if l == len(d.layers) else None
            for i in range(rule.units):
                if link is not None:  # the loss's link gives the prediction yhat
                    hz = link(list(d.scalar.z[l - 1]))[i]
                else:
                    hz = rule.forward.xreplace({Z: d.scalar.z[l - 1][i]})
                units.append(
                    Display(
                        tex(d.scalar.h[l - 1][i]),
                        (
                            f"{_layer_act_tex(d, rule)}({tex(d.scalar.z[l - 1][i])}) = {tex(hz)}",
                        ),
                    )
                )
    return tuple(general), tuple(units), tuple(vector)


def _code_rows(d: Derivation, lines: Sequence[printing.Line]) -> tuple[CodeRow, ...]:
    shapes = _batch_shapes(d)
    rows = []
    for line in lines:
        target = line.code.split(" = ")[0].strip()
        comment = re.sub(r"^\([^)]*\)\s*", "", line.comment)
        rows.append(
            CodeRow(
                statement_tex(line.code, _has_link(d)),
                f"${shape_tex(shapes[target])}$",
                code_tex(line.code),
                escape_tex(comment),
                len(line.code),
            )
        )
    return tuple(rows)


def compact_table(rows: Sequence[CodeRow]) -> bool:
    """True when maths, shape and code fit side by side; else each code line goes below."""
    return all(r.chars <= 40 and visual_width(r.maths) <= 30 for r in rows)


def _batch_shapes(d: Derivation) -> dict[str, tuple[int | str, ...]]:
    shapes: dict[str, tuple[int | str, ...]] = {
        "Y": ("N", d.spec.layers[-1]),
        "P": ("N", d.spec.layers[-1]),
    }
    for rule in d.layers:
        l = rule.index  # noqa: E741
        for name in (f"Z{l}", f"H{l}", f"dZ{l}"):
            shapes[name] = ("N", rule.units)
        shapes[f"gW{l}"] = (rule.units, rule.fan_in)
        shapes[f"gb{l}"] = (rule.units,)
    return shapes


def _has_link(d: Derivation) -> bool:
    """True when the loss applies a link (sigmoid, softmax) to the logits itself."""
    return getattr(registry.loss(d.spec.loss), "link", None) is not None


def _loss(d: Derivation) -> tuple[Display, Display, str]:
    spec = d.spec
    loss = registry.loss(spec.loss)
    n_out, L = spec.layers[-1], len(d.layers)
    link = _has_link(d)
    # a loss with a link reads the logits z^(L); any other reads the outputs yhat
    out_name = (lambda k: f"z{L}_{k}") if link else (lambda k: f"yhat_{k}")
    yh = [_sym(out_name(k)) for k in range(1, n_out + 1)]
    ys = [_sym(f"y_{k}") for k in range(1, n_out + 1)]
    full = loss.expr(yh, ys)
    k = sp.Symbol("k", integer=True, positive=True)
    one = loss.expr([_sym(out_name("k"))], [_sym("y_k")])
    separable = (
        sp.expand(
            sp.Add(
                *[
                    one.xreplace({_sym(out_name("k")): a, _sym("y_k"): b})
                    for a, b in zip(yh, ys, strict=True)
                ]
            )
            - full
        )
        == 0
    )
    if separable and n_out > 3:
        rhs: tuple[str, ...] = (tex(sp.Sum(one, (k, 1, n_out))),)
    elif n_out <= 6:
        rhs = _cont(broken(full))
    else:
        rhs = (r"\text{" + escape_tex(loss.description) + "}",)
    sample = Display("L", rhs)
    n = sp.Symbol("n", integer=True, positive=True)
    N = sp.Symbol("N", integer=True, positive=True)
    batch_tex = tex(sp.Sum(sp.Symbol("L_n"), (n, 1, N)))
    if spec.reduction == "mean":
        batch_tex = r"\frac{1}{N} " + batch_tex
    batch = Display(r"\mathcal{L}", (batch_tex,), "$L_n$: the loss of sample $n$")
    what = f"{escape_tex(loss.description)}; the batch loss " + (
        "sums it over the samples"
        if spec.reduction == "sum"
        else "averages it over the samples, so every gradient carries a factor $1/N$"
    )
    return sample, batch, what


def _local(d: Derivation) -> tuple[Display, ...]:
    """Every factor the chain rule multiplies, each obtained with sympy.diff and named."""
    spec = d.spec
    L = len(d.layers)
    out = []
    loss = registry.loss(spec.loss)
    n_out = spec.layers[-1]
    yh = [_sym(f"yhat_{k}") for k in range(1, n_out + 1)]
    ys = [_sym(f"y_{k}") for k in range(1, n_out + 1)]
    if _has_link(d):
        link = escape_tex(str(loss.link))
        delta = d.output_delta.xreplace(
            {Z: _sym(f"z{L}_k"), YHAT: _sym("yhat_k"), T: _sym("y_k")}
        )
        out.append(
            Display(
                _partial("L", symbol_tex(f"z{L}_k")),
                (tex(delta),),
                f"loss through its {link}, output $k$",
            )
        )
    else:
        dloss = sp.diff(loss.expr(yh, ys), yh[0]).xreplace(
            {yh[0]: _sym("yhat_k"), ys[0]: _sym("y_k")}
        )
        out.append(
            Display(
                _partial("L", symbol_tex("yhat_k")), (tex(dloss),), "loss, output $k$"
            )
        )
    for rule in reversed(d.layers):
        l = rule.index  # noqa: E741
        if l == L and _has_link(d):
            continue  # the logits feed the loss directly
        unit = "k" if l == L else "i"
        z = _sym(f"z{l}_{unit}")
        h = _sym(_h_name(d, l, unit))
        deriv = rule.derivative.xreplace({Z: z, H: h})
        out.append(
            Display(
                _partial(tex(h), tex(z)),
                (f"{_act_tex(rule)}'({tex(z)}) = {tex(deriv)}",),
                f"activation ({escape_tex(rule.activation)}), "
                + ("output layer" if l == L else f"layer {l}"),
            )
        )
    for rule in d.layers:
        l = rule.index  # noqa: E741
        # d z_i / d w_ij and d z_i / d b_i, by sympy.diff of unit 1's sum at input j = last
        i, j = 1, rule.fan_in
        prev = [_sym(_h_name(d, l - 1, str(m))) for m in range(1, rule.fan_in + 1)]
        weights = [_sym(f"W{l}_{i}_{m}") for m in range(1, rule.fan_in + 1)]
        z = sp.Add(
            *[w * p for w, p in zip(weights, prev, strict=True)], _sym(f"b{l}_{i}")
        )
        general = {prev[j - 1]: _sym(_h_name(d, l - 1, "j"))}
        dw = sp.diff(z, weights[j - 1]).xreplace(general)
        db = sp.diff(z, _sym(f"b{l}_{i}"))
        dh = sp.diff(z, prev[j - 1]).xreplace({weights[j - 1]: _sym(f"W{l}_i_j")})
        zi = symbol_tex(f"z{l}_i")
        out.append(
            Display(
                _partial(zi, symbol_tex(f"W{l}_i_j")), (tex(dw),), f"weight, layer {l}"
            )
        )
        out.append(
            Display(_partial(zi, symbol_tex(f"b{l}_i")), (tex(db),), f"bias, layer {l}")
        )
        if l > 1:
            out.append(
                Display(
                    _partial(zi, _h_tex(d, l - 1, "j")),
                    (tex(dh),),
                    f"layer {l - 1} into layer {l}",
                )
            )
    return tuple(out)


def _deltas(d: Derivation) -> tuple[tuple[Display, ...], tuple[Display, ...]]:
    L = len(d.layers)
    general, units = [], []
    last = d.layers[-1]
    out_delta = d.output_delta.xreplace(
        {Z: _sym(f"z{L}_k"), YHAT: _sym("yhat_k"), T: _sym("y_k")}
    )
    chain = _partial("L", symbol_tex(f"z{L}_k"))
    if not _has_link(d):
        chain += (
            " = "
            + _partial("L", symbol_tex("yhat_k"))
            + _partial(symbol_tex("yhat_k"), symbol_tex(f"z{L}_k"))
        )
    general.append(
        Display(
            symbol_tex(f"delta{L}_k"),
            (chain, "= " + tex(out_delta)),
            _range("k", last.units),
        )
    )
    k = sp.Symbol("k", integer=True, positive=True)
    small = d.scalar is not None and d.spec.param_count <= ELEMENT_LIMIT
    if small:
        for kk in range(1, last.units + 1):
            units.append(
                Display(
                    symbol_tex(f"delta{L}_{kk}"),
                    (
                        tex(
                            d.output_delta.xreplace(
                                {
                                    Z: _sym(f"z{L}_{kk}"),
                                    YHAT: _sym(f"yhat_{kk}"),
                                    T: _sym(f"y_{kk}"),
                                }
                            )
                        ),
                    ),
                )
            )
    for rule in reversed(d.layers[:-1]):
        l = rule.index  # noqa: E741
        above = d.layers[l]
        zi = _sym(f"z{l}_i")
        deriv = rule.derivative.xreplace({Z: zi, H: _sym(_h_name(d, l, "i"))})
        total = sp.Sum(
            _sym(f"W{l + 1}_k_i") * _sym(f"delta{l + 1}_k"), (k, 1, above.units)
        )
        chain = (
            rf"\sum_{{k=1}}^{{{above.units}}} "
            + _partial("L", symbol_tex(f"z{l + 1}_k"))
            + _partial(symbol_tex(f"z{l + 1}_k"), symbol_tex(_h_name(d, l, "i")))
            + _partial(symbol_tex(_h_name(d, l, "i")), symbol_tex(f"z{l}_i"))
        )
        general.append(
            Display(
                symbol_tex(f"delta{l}_i"),
                (chain, "= " + tex(sp.Mul(total, deriv, evaluate=False))),
                _range("i", rule.units),
            )
        )
        if small:
            for i in range(1, rule.units + 1):
                zs = _sym(f"z{l}_{i}")
                di = rule.derivative.xreplace({Z: zs, H: _sym(_h_name(d, l, str(i)))})
                s = sp.Add(
                    *[
                        _sym(f"W{l + 1}_{kk}_{i}") * _sym(f"delta{l + 1}_{kk}")
                        for kk in range(1, above.units + 1)
                    ]
                )
                units.append(
                    Display(symbol_tex(f"delta{l}_{i}"), _cont(broken(s * di)))
                )
    return tuple(general), tuple(units)


def _chain(d: Derivation) -> tuple[Display, ...]:
    out = []
    for rule in d.layers:
        l = rule.index  # noqa: E741
        zi = symbol_tex(f"z{l}_i")
        hj = _h_tex(d, l - 1, "j")
        w, b = symbol_tex(f"W{l}_i_j"), symbol_tex(f"b{l}_i")
        out.append(
            Display(
                _partial("L", w),
                (
                    _partial("L", zi)
                    + _partial(zi, w)
                    + " = "
                    + symbol_tex(f"delta{l}_i")
                    + " "
                    + hj,
                ),
            )
        )
        out.append(
            Display(
                _partial("L", b),
                (
                    _partial("L", zi)
                    + _partial(zi, b)
                    + " = "
                    + symbol_tex(f"delta{l}_i"),
                ),
            )
        )
    return tuple(out)


def _closed_forms(d: Derivation) -> tuple[Display, ...]:
    assert d.scalar is not None
    out = []
    for name in d.spec.param_names:
        for entry, sym in zip(
            d.scalar.readable[name], d.scalar.params[name], strict=True
        ):
            out.append(
                Display(_partial("L", tex(sym)), _cont(broken(sp.factor_terms(entry))))
            )
    return tuple(out)


def _backward_vector(d: Derivation) -> tuple[Display, ...]:
    """Per sample, in matrix form (the batch version is the trainer's code)."""
    L = len(d.layers)
    delta = tex(d.output_delta, {Z: f"z^{{({L})}}", YHAT: r"\hat{y}", T: "y"})
    out = [Display(rf"\delta^{{({L})}}", (delta,))]
    for rule in reversed(d.layers):
        l = rule.index  # noqa: E741
        prev = _vec_h(d, l - 1)
        out.append(
            Display(
                _partial("L", f"W^{{({l})}}"),
                (rf"\delta^{{({l})}} {transpose_tex(prev)}",),
            )
        )
        out.append(Display(_partial("L", f"b^{{({l})}}"), (rf"\delta^{{({l})}}",)))
        if l > 1:
            below = d.layers[l - 2]
            local = tex(
                below.derivative, {Z: f"z^{{({l - 1})}}", H: f"h^{{({l - 1})}}"}
            )
            rhs = rf"W^{{({l})\top}} \delta^{{({l})}}"
            if local != "1":
                rhs = rf"\bigl({rhs}\bigr) \odot {local}"
            out.append(Display(rf"\delta^{{({l - 1})}}", (rhs,)))
    return tuple(out)


def _pairs(items: Sequence[tuple[str, np.ndarray]]) -> tuple[Pair, ...]:
    """Side by side when both are narrow, else one per line."""
    out: list[Pair] = []
    pending: list[Display] = []
    for name, value in items:
        a = np.asarray(value)
        if (
            a.ndim == 1 and a.size > 2
        ):  # a long column would waste a page: show it as a row
            name, a = transpose_tex(name), a.reshape(1, -1)
        narrow = a.ndim < 2 or a.shape[1] <= 2
        disp = Display(name, (matrix_tex(a),))
        if narrow:
            pending.append(disp)
            if len(pending) == 2:
                out.append(Pair(tuple(pending)))
                pending = []
        else:
            if pending:
                out.append(Pair(tuple(pending)))
                pending = []
            out.append(Pair((disp,)))
    if pending:
        out.append(Pair(tuple(pending)))
    return tuple(out)


def _curve(history: Sequence[float]) -> LossCurve:
    n = len(history)
    step = max(1, math.ceil(n / PLOT_POINTS))
    epochs = sorted(set(range(1, n + 1, step)) | {n})
    values = [float(history[e - 1]) for e in epochs]
    finite = [v for v in values if math.isfinite(v)]
    positive = [v for v in finite if v > 0]
    log_scale = len(positive) == len(values) and max(positive) / min(positive) > 100
    coords = " ".join(
        f"({e},{v:.6e})"
        for e, v in zip(epochs, values, strict=True)
        if math.isfinite(v)
    )
    bad = next((e for e, v in enumerate(history, 1) if not math.isfinite(v)), None)
    note = (
        f" The loss overflowed at epoch {bad}: the learning rate is too large for this network "
        "and data, so training diverged (the plot stops there)."
        if bad is not None
        else ""
    )
    if not coords:
        coords = "(1,0)"
    return LossCurve(
        coords, log_scale, n, number_tex(history[0]), number_tex(history[-1]), note
    )


@dataclass(frozen=True)
class Example:
    """The worked example's numbers, all computed by the generated trainer."""

    X: np.ndarray
    y: np.ndarray
    params: dict[str, np.ndarray]
    cache: dict[str, np.ndarray]
    loss: float
    grads: dict[str, np.ndarray]
    updated: dict[str, np.ndarray]
    history: list[float]
    data_note: str


def run_example(d: Derivation, trainer: types.ModuleType) -> Example:
    """Epoch 1 and the whole training run on the spec's data (or the trainer's random set)."""
    spec = d.spec
    if spec.X is not None and spec.y is not None:
        X, y = np.array(spec.X, dtype=float), np.array(spec.y, dtype=float)
        data = f"the spec's data ({len(X)} {'sample' if len(X) == 1 else 'samples'})"
    else:
        X, y = trainer.make_data(seed=spec.seed)
        data = (
            f"a random regression set of {len(X)} samples from the trainer's "
            f"\\texttt{{make\\_data(seed={spec.seed})}} (the spec has no data)"
        )
    if spec.params is not None:
        params = {k: np.array(spec.params[k], dtype=float) for k in spec.param_names}
        weights = "the spec's initial weights"
    else:
        params = trainer.init_params(spec.seed)
        weights = f"initial weights from \\texttt{{init\\_params({spec.seed})}} (the spec gives none)"
    note = f"This example uses {data} and {weights}."
    with np.errstate(all="ignore"):  # a diverging run is reported, not warned about
        cache = trainer.forward(params, X)
        loss, grads = trainer.loss_and_gradients(params, X, y)
        updated = {k: v.copy() for k, v in params.items()}
        trainer.sgd_step(updated, X, y, spec.lr)
        run = {k: v.copy() for k, v in params.items()}
        history = trainer.train(run, X, y, spec.lr, spec.epochs)
    return Example(X, y, params, cache, float(loss), grads, updated, history, note)


def document_data(
    d: Derivation,
    trainer: types.ModuleType,
    *,
    proof: str,
    header: Sequence[str],
    notebook: NotebookCheck | None = None,
) -> DerivationDocument:
    """Everything the template shows, printed from the derivation and the generated trainer."""
    spec = d.spec
    elementwise = d.scalar is not None and spec.param_count <= ELEMENT_LIMIT
    general, units, vector = _forward(d)
    sample, batch, reduction_text = _loss(d)
    deltas_general, deltas_units = _deltas(d)
    if d.scalar is None:
        general_note = (
            f"This network has {spec.param_count} parameters, too many for SymPy to write out "
            "a closed form per parameter: an entry of "
            "an early layer's gradient sums over every path to the outputs, so these forms grow "
            "with the width of every later layer while the per-layer rules above do not. The "
            "per-layer rules are therefore the result; "
            + escape_tex(" ".join(d.notes))
            + "."
        )
    elif not elementwise:
        general_note = (
            f"This network has {spec.param_count} parameters. SymPy derived a closed form for "
            f"every one of them (the trainer's docstring lists them), but printed here they would "
            f"fill pages with near-identical formulas (the document prints them up to "
            f"{ELEMENT_LIMIT} parameters); the per-layer rules above say the same in a few lines."
        )
    else:
        general_note = ""
    forward_code = _code_rows(d, printing.forward_lines(d))
    backward_code = _code_rows(d, printing.backward_lines(d))
    ex = run_example(d, trainer)
    L = len(d.layers)
    inputs = [("X", ex.X), ("Y", ex.y)] + [
        (array_tex(k), ex.params[k]) for k in spec.param_names
    ]
    forward_items = []
    for key, value in ex.cache.items():
        if (
            key == f"Z{L}"
            and d.layers[-1].activation == "identity"
            and not _has_link(d)
        ):
            forward_items.append((rf"Z^{{({L})}} = \hat{{Y}}", value))
            continue
        if key == "Y" and d.layers[-1].activation == "identity" and not _has_link(d):
            continue
        forward_items.append((array_tex(key, _has_link(d)), value))
    grads = [
        (_partial(r"\mathcal{L}", array_tex(k)), ex.grads[k]) for k in spec.param_names
    ]
    lr = number_tex(spec.lr)
    updated = [
        (
            array_tex(k)
            + r" - \eta\,"
            + _partial(r"\mathcal{L}", array_tex(k)).replace(r"\frac", r"\tfrac"),
            ex.updated[k],
        )
        for k in spec.param_names
    ]
    L_code = registry.loss(spec.loss).numpy.format(Y="Y", T="y", K=spec.layers[-1])
    if spec.reduction == "mean":
        L_code = f"({L_code}) / y.shape[0]"
    return DerivationDocument(
        header=tuple(header),
        creator=f"Generated by symbackprop {__version__}",
        # a PDF string: ASCII only, so the mark stays readable in the file's bytes
        creator_pdf=f"(Generated by symbackprop {__version__})",
        title=escape_tex(spec.title),
        summary=escape_tex(spec.describe()),
        layers_text="-".join(map(str, spec.layers)),
        drawing=_drawing(d),
        symbols=_symbols(d),
        conventions=(
            "Row $i$ of $W^{(l)}$ holds unit $i$'s weights, so "
            + f"${symbol_tex('W1_i_j')}$ is \\texttt{{W1[i-1, j-1]}} in the trainer"
            + "; indices are written together while they are single digits "
            + f"(${symbol_tex('W1_1_2')}$) and with a comma otherwise "
            + f"(${symbol_tex('W1_1_12')}$). "
            + f"A superscript $(l)$ names the layer; ${_vec_h(d, 0)}$ is the input and "
            + rf"$\hat{{y}} = h^{{({L})}}$ the output."
        ),
        activation_defs=_activation_defs(d),
        forward_general=general,
        forward_units=units,
        forward_vector=vector,
        forward_code=forward_code,
        forward_compact=compact_table(forward_code),
        loss_sample=sample,
        loss_batch=batch,
        loss_code=code_tex(L_code),
        reduction_text=reduction_text,
        local=_local(d),
        step_convention=_step_convention(d),
        deltas_general=deltas_general,
        deltas_units=deltas_units,
        chain=_chain(d),
        elementwise=elementwise,
        closed_forms=_closed_forms(d) if elementwise else (),
        closed_forms_note=(
            "for one sample; the batch gradient "
            + (
                "sums these over the samples"
                if spec.reduction == "sum"
                else "averages these over the samples"
            )
        ),
        general_note=general_note,
        backward_code=backward_code,
        backward_compact=compact_table(backward_code),
        backward_vector=_backward_vector(d),
        proof=escape_tex(proof),
        example_intro=ex.data_note,
        example_inputs=_pairs(inputs),
        example_forward=_pairs(forward_items),
        example_loss=Display(r"\mathcal{L}", (number_tex(ex.loss),)),
        example_gradients=_pairs(grads),
        example_updated=_pairs(updated),
        lr=lr,
        curve=_curve(ex.history),
        notebook=notebook,
        notes=tuple(escape_tex(n) for n in d.notes),
    )


def _step_convention(d: Derivation) -> str:
    """The value at z = 0 of every activation whose derivative jumps there (ReLU: 0)."""
    out = []
    seen = set()
    for rule in d.layers:
        if rule.activation in seen or not rule.derivative.has(
            sp.Heaviside, sp.Piecewise
        ):
            continue
        seen.add(rule.activation)
        at_zero = rule.derivative.xreplace({Z: sp.Integer(0), H: sp.Integer(0)})
        name = _act_tex(rule)
        out.append(
            f"${name}$ has no derivative at $z = 0$ (its slope jumps there). This document, "
            f"SymPy and the trainer all take ${name}'(0) = {tex(sp.nsimplify(at_zero))}$"
            + (
                r": $\mathbf{1}[z > 0]$ is 1 for $z > 0$ and 0 for $z \le 0$. SymPy was told "
                r"so explicitly (\texttt{Heaviside(z, 0)}; its default would give $1/2$), and "
                r"the trainer computes it as \texttt{(Z > 0)}."
                if rule.derivative.has(sp.Heaviside)
                else "."
            )
        )
    return " ".join(out)
