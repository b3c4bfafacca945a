"""Prose with maths and code in it, as plain data: printed to LaTeX or to Markdown by a Writer.

The document builders write a sentence once, as spans (`"text"`, `Math("z^{(1)}")`,
`Code("W1")`), and the target's writer escapes each span for its format, so no module ever
has to un-escape another's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Math:
    """Inline maths, as LaTeX (which MathJax reads too)."""

    tex: str


@dataclass(frozen=True)
class Code:
    """Inline code, shown verbatim in typewriter type."""

    text: str


Span = str | Math | Code


class Writer(Protocol):
    """Prints prose spans for one target format (LaTeX text mode, or Markdown with MathJax)."""

    def text(self, *spans: Span) -> str:
        """A piece of running text."""
        ...

    def remark(self, *spans: Span) -> str:
        """The remark beside a display equation."""
        ...

    def code(self, text: str) -> str:
        """Inline code."""
        ...
