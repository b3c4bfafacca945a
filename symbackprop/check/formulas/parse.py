"""Read one formula in either notation: plain text (plain.py) or LaTeX (latex.py)."""

from __future__ import annotations

import sympy as sp

from .latex import parse_latex
from .plain import parse_plain
from .vocab import ParseError, Vocabulary

FORMATS = ("auto", "plain", "latex")


def looks_like_latex(text: str) -> bool:
    """True for a formula written in LaTeX: it has a backslash, a brace or a $."""
    return any(c in text for c in "\\{}$")


def parse_formula(text: str, vocab: Vocabulary, fmt: str = "auto") -> sp.Expr:
    """Parse one formula (plain text or LaTeX; `auto` decides by backslashes and braces)."""
    if fmt not in FORMATS:
        raise ParseError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "latex" or (fmt == "auto" and looks_like_latex(text)):
        return parse_latex(text, vocab)
    return parse_plain(text, vocab)
