"""LaTeX maths for the documents: SymPy expressions in our notation, and the Program's steps.

`DocumentPrinter` is SymPy's LaTeX printer in the document's notation (1[z > 0] for the step,
w^{(1)}_{12}, yhat - y); `broken` splits a long expression into display lines.
`ProgramLatexPrinter` prints the typed Program (derive/program.py) node by node, in the rows
or the columns layout; its entrywise rules go through DocumentPrinter. `SampleLatexPrinter`
prints the columns-layout Program for one sample, in the per-sample vectors z, h, delta.
MathJax reads the same commands, so the notebook's maths is this output too.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from ..derive import YHAT, H, T, Z
from ..derive import program as P
from ..derive.rules import W
from ..spec import names as N
from ..spec import registry
from .notation import array_parts, partial, symbol_tex, transposed
from .tex import LINE_WIDTH, pack, visual_width


class DocumentPrinter(LatexPrinter):
    """SymPy's LaTeX in the document's notation: 1[z > 0] for the step, w^{(1)}_{12}, yhat - y.

    With `entrywise`, a product of two or more array-valued factors is written with \\odot, so
    that H (1 - H) on matrices cannot be read as a matrix product.
    """

    _default_settings = {**LatexPrinter._default_settings, "entrywise": False}

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        named = self._settings["symbol_names"].get(expr)
        return named if named is not None else symbol_tex(expr.name)

    def _add_parens(self, s: str) -> str:
        # (H^{(2)})^{2} with parentheses of the text's height: \left( grows them around
        # every superscript; only a fraction, sum or sized bracket inside needs that
        if any(tall in s for tall in (r"\frac", r"\sum", r"\left", r"\bigl")):
            return super()._add_parens(s)
        return f"({s})"

    def _print_tanh(self, expr: sp.Function, exp: object = None) -> str:
        # tanh(Z^{(1)}) as a textbook writes it, not tanh{\left(Z^{(1)} \right)}
        name = rf"\tanh^{{{exp}}}" if exp else r"\tanh"
        return name + self._add_parens(self._print(expr.args[0]))

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

    def _print_log(self, expr: sp.Function, exp: object = None) -> str:
        # log yhat_k for a symbol, as a textbook writes it; log(1 - yhat_k) otherwise
        arg = expr.args[0]
        inner = self._print(arg)
        tex = rf"\log {inner}" if arg.is_Symbol else rf"\log\left({inner}\right)"
        return rf"\left({tex}\right)^{{{exp}}}" if exp else tex

    def _print_Max(self, expr: sp.Max, exp: object = None) -> str:
        # max(z, 0) as the trainer writes np.maximum(Z, 0): the variable first
        args = sorted(expr.args, key=lambda a: a.is_number)
        tex = r"\max(" + ", ".join(self._print(a) for a in args) + ")"
        return rf"{tex}^{{{exp}}}" if exp else tex

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        tex = ""
        for i, term in enumerate(ordered_terms(self, expr, order)):
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

    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, rest = expr.as_coeff_Mul()
        factors = rest.as_ordered_factors()
        arrays = [f for f in factors if not f.is_number]
        divides = any(f.is_Pow and f.exp.is_negative for f in factors)
        if not self._settings["entrywise"] or len(arrays) < 2 or divides:
            return super()._print_Mul(expr)
        sign = "- " if coeff < 0 else ""
        head = "" if abs(coeff) == 1 else self._print(abs(coeff)) + " "
        shown = [
            rf"\left({self._print(f)}\right)"
            if precedence(f) < PRECEDENCE["Mul"]
            else self._print(f)
            for f in factors
        ]
        return sign + head + r" \odot ".join(shown)


def ordered_terms(
    printer: LatexPrinter, expr: sp.Add, order: str | None = None
) -> list[sp.Expr]:
    """SymPy's term order, positive terms first: yhat - y rather than -y + yhat."""
    terms = list(printer._as_ordered_terms(expr, order=order))
    return [t for t in terms if not t.could_extract_minus_sign()] + [
        t for t in terms if t.could_extract_minus_sign()
    ]


_PRINTER = DocumentPrinter()


def tex(
    expr: sp.Basic,
    names: dict[sp.Symbol, str] | None = None,
    entrywise: bool = False,
) -> str:
    """One expression in the document's notation (`names` overrides some symbols' LaTeX)."""
    if names or entrywise:
        settings = {"symbol_names": names or {}, "entrywise": entrywise}
        return DocumentPrinter(settings).doprint(expr)
    return _PRINTER.doprint(expr)


def broken(expr: sp.Expr, width: int = LINE_WIDTH) -> list[str]:
    """Print `expr` as display lines of about `width` glyphs, split at + and - and between
    factors; a parenthesis that has to span lines is a fixed-size \\bigl( ... \\bigr)."""
    return pack(_chunks(expr, width, 0), width)


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
        return _mul_chunks(expr, width, depth)
    return [whole]


def _mul_chunks(expr: sp.Mul, width: int, depth: int) -> list[str]:
    """A product's factors as line pieces; a factor too wide for a line is split itself."""
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


# --------------------------------------------------------------------------- the Program

ATOM, PRODUCT, SUM = 4, 2, 1


@dataclass(frozen=True)
class Printed:
    """A printed node: its LaTeX, how tightly it binds, and the product at its top if any."""

    latex: str
    prec: int
    op: str = ""  # "@" matrix product, "odot" entrywise product, "s" scalar times array


class ProgramLatexPrinter:
    """Program nodes -> LaTeX maths, one small method per node type.

    Rows layout (one sample per row): Z^{(1)} = X W^{(1)T} + 1_N b^{(1)T}. Columns layout (one
    per column): Z^{[1]} = W^{[1]} X + b^{[1]} 1_m^T, in deeplearning.ai's bracketed layers.
    With `link`, the trainer's Y holds logits (tilde Y) and P the predictions (hat Y). The
    notebook uses the same output: MathJax reads every command printed here.
    """

    product = r"\,"  # between the factors of a matrix product

    def __init__(
        self,
        layout: str = "rows",
        link: bool = False,
        brackets: str | None = None,
    ) -> None:
        self.rows = layout == "rows"
        self.batch = "N" if self.rows else "m"
        self.link = link
        self.brackets = brackets or ("()" if self.rows else "[]")

    def statement(self, step: P.Step) -> str:
        """`name = maths` for one step."""
        return f"{self.name(step.name)} = {self.expr(step.expr).latex}"

    def name(self, array: str, top: bool = False) -> str:
        """An array's maths name (transposed with `top`)."""
        base, sup = array_parts(array, self.link, self.brackets)
        if array == "n":
            base = self.batch
        if top:
            return transposed(base, sup)
        return f"{base}^{{{sup}}}" if sup else base

    def expr(self, node: P.Node) -> Printed:
        """LaTeX for one node."""
        return getattr(self, "_print_" + type(node).__name__)(node)

    def _wrap(self, p: Printed, prec: int, op: str = "") -> str:
        """p's LaTeX as an operand: bracketed when it binds less tightly, or is another product."""
        if p.prec < prec or (op and p.op and p.op != op and p.prec == PRODUCT):
            return rf"\bigl({p.latex}\bigr)"
        return p.latex

    def _entrywise(self, rule: sp.Expr, values: dict[sp.Symbol, P.Node]) -> Printed:
        """An entrywise SymPy rule with its placeholders standing for printed arrays."""
        shown = {s: self._wrap(self.expr(n), ATOM) for s, n in values.items()}
        latex = tex(rule, shown, entrywise=True)
        if precedence(rule) < PRECEDENCE["Mul"]:
            return Printed(latex, SUM)
        if isinstance(rule, sp.Mul):
            arrays = [f for f in rule.as_ordered_factors() if not f.is_number]
            return Printed(latex, PRODUCT, "odot" if len(arrays) > 1 else "s")
        return Printed(latex, ATOM)

    def _print_Ref(self, node: P.Ref) -> Printed:
        return Printed(self.name(node.name), ATOM)

    def _print_Transpose(self, node: P.Transpose) -> Printed:
        if isinstance(node.arg, P.Ref):
            return Printed(self.name(node.arg.name, top=True), ATOM)
        return Printed(transposed(self.expr(node.arg).latex), ATOM)

    def _print_MatMul(self, node: P.MatMul) -> Printed:
        left = self._wrap(self.expr(node.left), PRODUCT, "@")
        right = self._wrap(self.expr(node.right), PRODUCT, "@")
        return Printed(f"{left}{self.product}{right}", PRODUCT, "@")

    def _print_Hadamard(self, node: P.Hadamard) -> Printed:
        left = self._wrap(self.expr(node.left), PRODUCT, "odot")
        right = self._wrap(self.expr(node.right), PRODUCT, "odot")
        return Printed(rf"{left} \odot {right}", PRODUCT, "odot")

    def _ones(self) -> str:
        return rf"\mathbf{{1}}_{self.batch}"

    def _print_AddBias(self, node: P.AddBias) -> Printed:
        arg = self.expr(node.arg).latex
        if not isinstance(node.bias, P.Ref):
            raise ValueError(f"a bias is a parameter, not {node.bias!r}")
        # broadcasting adds the bias to every sample: a product with a row or column of ones
        if self.rows:
            bias = rf"{self._ones()}\,{self.name(node.bias.name, top=True)}"
        else:
            bias = rf"{self.name(node.bias.name)}\,{self._ones()}^{{\top}}"
        return Printed(f"{arg} + {bias}", SUM)

    def _print_SumSamples(self, node: P.SumSamples) -> Printed:
        arg = self.expr(node.arg)
        if self.rows:  # the column sums: Delta^T 1_N
            if isinstance(node.arg, P.Ref):
                summed = self.name(node.arg.name, top=True)
            else:
                summed = transposed(arg.latex)
            return Printed(rf"{summed}\,{self._ones()}", PRODUCT, "@")
        return Printed(
            rf"{self._wrap(arg, PRODUCT, '@')}\,{self._ones()}", PRODUCT, "@"
        )

    def _print_Activate(self, node: P.Activate) -> Printed:
        # an activation built of exp and log (sigmoid, softplus) by its name: sigma(Z), as the
        # per-unit formulas define it; max(Z, 0) and tanh(Z) are their own names already
        if node.rule.has(sp.exp, sp.log):
            arg = self.expr(node.arg).latex
            name = registry.activation(node.activation).latex
            return Printed(f"{name}({arg})", ATOM)
        return self._entrywise(node.rule, {Z: node.arg})

    def _print_Derivative(self, node: P.Derivative) -> Printed:
        return self._entrywise(node.rule, {Z: node.z, H: node.h})

    def _print_OutputError(self, node: P.OutputError) -> Printed:
        values = {Z: node.z, YHAT: node.prediction, T: node.target}
        return self._entrywise(node.rule, values)

    def _print_Link(self, node: P.Link) -> Printed:
        arg = self.expr(node.arg).latex
        return Printed(rf"{registry.link_latex(node.kind)}({arg})", ATOM)

    def _print_Mean(self, node: P.Mean) -> Printed:
        return Printed(rf"\frac{{{self.expr(node.arg).latex}}}{{{self.batch}}}", ATOM)

    def _print_PenaltyGrad(self, node: P.PenaltyGrad) -> Printed:
        term = self._entrywise(node.rule, {W: node.weight}).latex
        return Printed(f"{self.expr(node.arg).latex} + {term}", SUM)


class SampleLatexPrinter(ProgramLatexPrinter):
    """The columns-layout Program for one sample: the textbook's per-sample vector form.

    A sample is a column, so the Program's steps read z^{(1)} = W^{(1)} x + b^{(1)},
    h^{(1)} = ReLU(z^{(1)}), delta^{(1)} = (W^{(2)T} delta^{(2)}) odot 1[z^{(1)} > 0] and
    dL/dW^{(1)} = delta^{(1)} x^T: the bias needs no row of ones, a sum over the samples is its
    one term, and L is that sample's loss, so a mean's 1/m (the batch's) is not part of it.
    Activations are named (ReLU, sigma), as the per-unit formulas define them. With a link the
    output layer is the identity: the logits are z^{(L)} itself and the prediction is yhat.
    """

    product = " "
    _BASES = {"Z": "z", "H": "h", "dZ": r"\delta", "W": "W", "b": "b"}

    def __init__(self, depth: int, link: bool = False) -> None:
        super().__init__("columns", link, "()")
        self.depth = depth

    def name(self, array: str, top: bool = False) -> str:
        """x, y, yhat; z^{(l)}, h^{(l)}, delta^{(l)}, W^{(l)}; dL/dW^{(l)} for a gradient."""
        fixed = {N.INPUTS: "x", N.TARGETS: "y", N.PREDICTION: r"\hat{y}"}
        if array == N.OUTPUTS:
            array = N.pre_activation(self.depth) if self.link else N.PREDICTION
        if array in fixed:
            base, sup = fixed[array], ""
        else:
            parsed = N.parse(array)
            if parsed is None or parsed.indices or not parsed.layer:
                raise ValueError(f"no per-sample name for array {array!r}")
            sup = f"({parsed.layer})"
            if parsed.kind in ("gW", "gb"):
                return partial("L", f"{parsed.kind[1]}^{{{sup}}}")
            base = self._BASES[parsed.kind]
        if top:
            return transposed(base, sup)
        return f"{base}^{{{sup}}}" if sup else base

    def _print_Activate(self, node: P.Activate) -> Printed:
        arg = self.expr(node.arg).latex
        return Printed(f"{registry.activation(node.activation).latex}({arg})", ATOM)

    def _print_AddBias(self, node: P.AddBias) -> Printed:
        return Printed(
            f"{self.expr(node.arg).latex} + {self.expr(node.bias).latex}", SUM
        )

    def _print_SumSamples(self, node: P.SumSamples) -> Printed:
        return self.expr(node.arg)

    def _print_Mean(self, node: P.Mean) -> Printed:
        return self.expr(node.arg)

    def _print_PenaltyGrad(self, node: P.PenaltyGrad) -> Printed:
        return self.expr(
            node.arg
        )  # L is one sample's loss: the batch's penalty is not in it
