"""The answer file of matrix mode read line by line: `NAME = expression`, in any order; a line
that cannot be read becomes an error of its own and never stops the others."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ....spec import names
from ..parse import looks_like_latex
from ..vocab import ParseError
from . import ast as A
from .latex import latex_name, latex_to_plain
from .parse import parse_rhs
from .printer import style_of

MAX_LINES = 2000


@dataclass(frozen=True)
class Equation:
    """One line: the name as written and what it means, the tree, the text and its notation;
    `error` when it cannot be read (then rhs is None)."""

    line: int
    name: str
    key: tuple[str, int] | None
    rhs: A.Node | None
    text: str
    style: str
    error: str = ""


def _split(line: str) -> tuple[str, str] | None:
    """LEFT = RIGHT at the first `=` that is not part of a comparison or a keyword."""
    depth = 0
    for i, c in enumerate(line):
        depth += {"(": 1, ")": -1, "{": 1, "}": -1, "[": 1, "]": -1}.get(c, 0)
        if c == "=" and depth == 0:
            if line[i - 1 : i] in ("<", ">", "!", "=") or line[i + 1 : i + 2] == "=":
                continue
            return line[:i], line[i + 1 :]
    return None


def is_matrix_file(text: str, depth: int) -> bool:
    """True when the lines name whole arrays (dW1, dZ2, delta1) rather than entries (dW1_1_2)."""
    for raw in text.splitlines():
        parts = _split(raw.split("#", 1)[0].strip())
        if parts is None or parts[0].strip().lower() == "format":
            continue
        left = parts[0].strip()
        if looks_like_latex(left):
            try:
                left = latex_name(left)
            except ParseError:
                continue
        if names.parse_course(left, depth) is not None:
            return True
    return False


def read_equations(text: str, depth: int, fmt: str = "auto") -> list[Equation]:
    """Every equation line, parsed or with the reason it cannot be."""
    out: list[Equation] = []
    for number, raw in enumerate(text.splitlines()[:MAX_LINES], start=1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("%") else ""
        line = line.strip().strip("$").strip()
        if not line:
            continue
        parts = _split(line)
        if parts is None:
            out.append(
                Equation(
                    number,
                    line[:30],
                    None,
                    None,
                    line,
                    "maths",
                    "expected `NAME = expression`",
                )
            )
            continue
        left, right = parts[0].strip(), parts[1].strip()
        if left.lower() == "format":
            fmt = right.lower()
            continue
        if not right:  # a blank template line: that gradient is missing
            continue
        latex = fmt == "latex" or (fmt == "auto" and looks_like_latex(line))
        name, key = left, None
        try:
            name = latex_name(left) if latex else re.sub(r"\s+", "", left)
            key = _key(name, depth)
            plain = latex_to_plain(right) if latex else right
            tree = parse_rhs(plain)
        except ParseError as exc:
            out.append(Equation(number, name, key, None, right, "maths", str(exc)))
            continue
        out.append(Equation(number, name, key, tree, plain, style_of(plain, latex)))
    return out


def _key(name: str, depth: int) -> tuple[str, int] | None:
    """What a left side defines: (dW, 2), (dZ, 1), ...; None for a name of the student's own."""
    parsed = names.parse_course(name, depth)
    if parsed is None:
        if not re.fullmatch(r"[A-Za-z_δΔ][A-Za-z0-9_]*", name):
            raise ParseError(f"{name!r} is not a name; write e.g. dW2 = ...")
        return None
    if parsed.kind in ("X", "Y", "m", "W", "b"):
        raise ParseError(
            f"{name} is given, not derived; write its gradient d{name} = ..."
        )
    return (parsed.kind, parsed.layer)
