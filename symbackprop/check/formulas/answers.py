"""The answer file: one line per parameter entry, read and parsed (nothing is judged here).

A line is `dL/dW1_1_2 = <formula>` (also `W1_1_2:` or `dW1_1_2 =`, or a LaTeX
`\\frac{\\partial L}{\\partial w^{(1)}_{12}}`); `#` starts a comment, blank lines are skipped, and
`format = latex|plain|auto` switches the notation of the lines after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from ...errors import UserError
from .latex import parse_latex_symbol
from .parse import FORMATS, looks_like_latex, parse_formula
from .vocab import MAX_CHARS, ParseError, Vocabulary

MAX_FILE_BYTES = 1_000_000
MAX_LINE_CHARS = MAX_CHARS + 200  # a formula plus its `dL/dW12_34_56 =` key

_KEY_LINE = re.compile(r"\s*(?P<key>[^=:]*?)\s*[=:](?P<formula>.*)")
_PLAIN_KEY = re.compile(
    r"(?:dL\s*/\s*d|∂L\s*/\s*∂|d(?=[WwBb]\d))?(?P<name>[A-Za-z][A-Za-z0-9_]*)"
)
_LATEX_KEYS = (
    re.compile(
        r"\\[dt]?frac\s*\{\s*\\partial\s*(?:L|\\mathcal\s*\{?\s*L\s*\}?|\\ell)\s*\}"
        r"\s*\{\s*\\partial\s*(?P<name>.+)\}"
    ),
    re.compile(
        r"\\partial\s*(?:L|\\mathcal\s*\{?\s*L\s*\}?|\\ell)\s*/\s*\\partial\s*(?P<name>.+)"
    ),
)


@dataclass(frozen=True)
class Answer:
    """One line of the answer file: its number, the formula as written, and its parse."""

    line: int
    text: str
    expr: sp.Expr | None  # None: the line is there but the formula is empty


def read_answer_file(path: Path) -> str:
    """The text of an answer file, or a UserError (exit 2) saying why it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UserError(
                f"{path}: the file is {size} bytes; an answer file is at most "
                f"{MAX_FILE_BYTES} bytes (one line per gradient entry)"
            )
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such file; check the path given to check-formulas"
        ) from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; give the answer file") from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: not UTF-8 text; save the answer file as plain text"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file ({exc.strerror})") from None


def parse_answers(
    text: str,
    vocab: Vocabulary,
    source: str = "answers",
    fmt: str = "auto",
    errors: list[UserError] | None = None,
) -> dict[sp.Symbol, Answer]:
    """Parse every line; a problem is a UserError naming the line and the fix, raised at once,
    or, given an `errors` list, collected there while the other lines are read."""
    entries = set(vocab.entries)
    answers: dict[sp.Symbol, Answer] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        try:
            fmt = _parse_line(number, raw, vocab, source, fmt, entries, answers)
        except UserError as exc:
            if errors is None:
                raise
            errors.append(exc)
    return answers


def _parse_line(
    number: int,
    raw: str,
    vocab: Vocabulary,
    source: str,
    fmt: str,
    entries: set[sp.Symbol],
    answers: dict[sp.Symbol, Answer],
) -> str:
    """Read one line into `answers`; returns the notation for the lines after it."""

    def fail(message: str, number: int = number) -> UserError:
        """A UserError naming this line."""
        return UserError(f"{source}:{number}: {message}")

    if len(raw) > MAX_LINE_CHARS:
        raise fail(
            f"the line is {len(raw)} characters long; the limit is {MAX_LINE_CHARS}"
        )
    line = _strip_comment(raw).strip()
    if not line:
        return fmt
    m = _KEY_LINE.fullmatch(line)
    if m is None:
        raise fail(
            f"expected `dL/dW1_1_2 = formula` (or `W1_1_2: formula`), found {line[:60]!r}"
        )
    key, formula = m["key"], m["formula"].strip()
    if key.lower() == "format":
        fmt = formula.lower()
        if fmt not in FORMATS:
            raise fail(f"format must be one of {', '.join(FORMATS)}, not {formula!r}")
        return fmt
    try:
        entry = _entry(key, vocab)
    except ParseError as exc:
        raise fail(str(exc)) from None
    if entry not in entries:
        raise fail(
            f"{key!r} is not a parameter entry of {vocab_span(vocab)}; answer lines are "
            "for the weights and biases only"
        )
    if entry in answers:
        raise fail(f"{entry} is answered twice (first on line {answers[entry].line})")
    if not formula:
        answers[entry] = Answer(number, "", None)
        return fmt
    if looks_like_latex(formula) or fmt == "latex":
        formula = _strip_latex_comment(formula)
    try:
        expr = parse_formula(formula, vocab, fmt)
    except ParseError as exc:
        raise fail(f"dL/d{entry}: {exc}") from None
    answers[entry] = Answer(number, formula, expr)
    return fmt


def vocab_span(vocab: Vocabulary) -> str:
    """`W1_1_1 .. b2_1` for messages."""
    e = vocab.entries
    return f"this network ({e[0]} .. {e[-1]})"


def _strip_comment(line: str) -> str:
    """Drop a `#` comment, and a whole line starting with LaTeX's `%`."""
    if line.lstrip().startswith("%"):
        return ""
    return line.split("#", 1)[0]


def _strip_latex_comment(formula: str) -> str:
    """Drop a LaTeX `%` comment (an escaped \\% stays)."""
    return re.split(r"(?<!\\)%", formula, maxsplit=1)[0].strip()


def _entry(key: str, vocab: Vocabulary) -> sp.Symbol:
    """The parameter a key names: dL/dW1_1_2, dW1_1_2, W1_1_2, w1_12, \\frac{\\partial L}{...}."""
    for pattern in _LATEX_KEYS:
        m = pattern.fullmatch(key)
        if m:
            return parse_latex_symbol(m["name"], vocab)
    m = _PLAIN_KEY.fullmatch(key)
    latex = re.fullmatch(r"(?:dL\s*/\s*d|∂L\s*/\s*∂)\s*(?P<name>.*[\\{^].*)", key)
    if m is None and latex is not None:  # dL/dw^{(1)}_{12}
        return parse_latex_symbol(latex["name"], vocab)
    if m is None:
        raise ParseError(
            f"{key!r} does not name an entry; write e.g. dL/dW1_1_2 = ... or W1_1_2: ..."
        )
    return vocab.plain_name(m["name"])
