"""LaTeX text formatting: escaping, numbers, matrices, shapes, display lines, prose in LaTeX.

No SymPy here: latex.py prints expressions, this module lays out the strings they become.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .prose import Code, Math, Span

# Estimated width, in characters of maths, of the right-hand side of one display line.
LINE_WIDTH = 58
# Numeric matrices show at most this many rows and columns (first ones, dots, the last one).
SHOW_ROWS = 5
SHOW_COLS = 5

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


def _escaped(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)


def escape_tex(text: str) -> str:
    """User text (a title, a parameter name, a checker message) as LaTeX that prints it as is."""
    # on one line of the .tex, so a stray newline cannot end a paragraph mid-cell
    return " ".join(_escaped(str(text)).split())


# beyond Latin-1, what pdfLaTeX's UTF-8 input still sets in T1: dashes, quotes, the ellipsis
_PDFTEX_PUNCTUATION = frozenset(
    "\u2010\u2013\u2014\u2018\u2019\u201a\u201c\u201d\u201e\u2026\u2022\u20ac\u2122"
)


def needs_unicode_tex(*texts: str) -> bool:
    """Whether user text holds characters pdfLaTeX's T1 fonts lack (CJK, Cyrillic, Greek...):
    such a document is compiled by LuaLaTeX with OpenType fonts and a CJK fallback."""
    return any(
        ord(c) > 0xFF and c not in _PDFTEX_PUNCTUATION for text in texts for c in text
    )


def code_tex(code: str) -> str:
    """A line of Python shown in typewriter type, escaped, breakable only at spaces."""
    return r"\texttt{" + escape_tex(code) + "}"


@dataclass(frozen=True)
class Display:
    """One display equation: `lhs = rhs[0]`, continued on rhs[1:], with an optional remark."""

    lhs: str
    rhs: tuple[str, ...]
    remark: str = ""
    relation: str = "="


class TexWriter:
    """Prose as LaTeX text mode: text escaped, $maths$, \\texttt{code}."""

    def text(self, *spans: Span) -> str:
        """Running text; whitespace inside a span becomes one space, its edges are kept."""
        out = []
        for span in spans:
            if isinstance(span, Math):
                out.append(f"${span.tex}$")
            elif isinstance(span, Code):
                out.append(code_tex(span.text))
            else:
                out.append(re.sub(r"\s+", " ", _escaped(span)))
        return "".join(out)

    def remark(self, *spans: Span) -> str:
        """The template puts a remark in \\text{}, so it is text mode like the rest."""
        return self.text(*spans)

    def code(self, text: str) -> str:
        """Inline code in typewriter type."""
        return code_tex(text)


TEX = TexWriter()


# --------------------------------------------------------------------------- display lines


def visual_width(latex: str) -> int:
    """A rough count of the glyphs a piece of maths prints (for line breaking, not layout)."""
    s = re.sub(
        r"\\(left|right|[Bb]igl|[Bb]igr|mathbf|mathcal|hat|operatorname)\b", "", latex
    )
    s = re.sub(r"\^\{\((\d+)\)\\?(top)?\}", lambda m: "x" * (len(m.group(1)) + 1), s)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    s = re.sub(r"[{}_^ ]|\\,|\\;|\\!", "", s)
    return len(s)


def pack(chunks: Sequence[str], width: int = LINE_WIDTH) -> list[str]:
    """Join pieces of maths into lines of about `width` glyphs."""
    lines: list[str] = []
    for chunk in chunks:
        if lines and visual_width(lines[-1] + chunk) <= width:
            lines[-1] += " " + chunk
        else:
            lines.append(chunk)
    return lines


def continued(lines: Sequence[str]) -> tuple[str, ...]:
    """Display lines after the first, indented past the relation sign."""
    return (lines[0], *[r"\quad " + line for line in lines[1:]])


# --------------------------------------------------------------------------- numbers


def number_tex(x: float) -> str:
    """4 decimals, or a power of ten for the very small and very large; never -0.0000."""
    x = float(x)
    if not math.isfinite(x):
        shown = "NaN" if math.isnan(x) else ("-" if x < 0 else "") + "inf"
        return r"\text{" + shown + "}"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4f}"
    mantissa, exponent = f"{x:.3e}".split("e")
    return rf"{mantissa}\times 10^{{{int(exponent)}}}"


def shown(n: int, limit: int) -> list[int | None]:
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
    rs, cs = shown(a.shape[0], rows), shown(a.shape[1], cols)
    seen = np.array([a[r, c] for r in rs if r is not None for c in cs if c is not None])
    prefix, cell = _one_format(seen)
    lines = []
    for r in rs:
        cells = []
        for c in cs:
            if r is None:
                cells.append(r"\vdots" if c is not None else r"\ddots")
            else:
                cells.append(r"\cdots" if c is None else cell(a[r, c]))
        lines.append(" & ".join(cells))
    return prefix + r"\begin{pmatrix}" + r" \\ ".join(lines) + r"\end{pmatrix}"


def _one_format(values: np.ndarray) -> tuple[str, Callable[[float], str]]:
    """One number format for a whole matrix: integers as such, 4 decimals, or (when an entry
    would need a power of ten) a common factor 10^e written before the matrix."""
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite == np.round(finite)) and np.all(abs(finite) < 1e5):
        return "", lambda x: number_tex(x) if not math.isfinite(x) else f"{x + 0.0:.0f}"
    nonzero = abs(finite[finite != 0])
    if not nonzero.size or (nonzero.min() >= 1e-3 and nonzero.max() < 1e5):
        return "", number_tex
    e = int(math.floor(math.log10(nonzero.max())))
    scale = 10.0**e

    def cell(x: float) -> str:
        if not math.isfinite(x):
            return number_tex(x)
        return "0" if x == 0 else f"{x / scale:.4f}"

    # the largest entry between 1 and 10: the factor would be 10^0, so none is written
    return (rf"10^{{{e}}} \times " if e else ""), cell


def shape_tex(shape: Sequence[int | str]) -> str:
    """(2, 3) -> 2 \\times 3; () -> scalar."""
    if not shape:
        return r"\text{scalar}"
    return r" \times ".join(str(s) for s in shape)
