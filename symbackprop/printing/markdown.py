"""Markdown for notebooks: escaping, code spans, and prose with MathJax maths in it."""

from __future__ import annotations

import re

from .prose import Code, Math, Span

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&$|~#])")


def md_escape(text: str) -> str:
    """User text as Markdown that shows it as is (no emphasis, links, HTML or maths)."""
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(text)))


def md_code(text: str) -> str:
    """Text as an inline code span, fenced by more backticks than it contains."""
    text = re.sub(r"\s+", " ", str(text))
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_inline(text: str) -> str:
    """Plain text whose `backticked` parts become code spans, the rest escaped."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: show everything as text
        return md_escape(text)
    return "".join(
        md_code(p) if i % 2 else md_escape(p) for i, p in enumerate(parts) if p
    )


class MarkdownWriter:
    """Prose as Markdown: text escaped, $maths$ for MathJax, `code`; remarks as maths."""

    def text(self, *spans: Span) -> str:
        """Running text for a Markdown cell."""
        out = []
        for span in spans:
            if isinstance(span, Math):
                out.append(f"${span.tex}$")
            elif isinstance(span, Code):
                out.append(md_code(span.text))
            else:
                out.append(md_escape(span))
        return "".join(out)

    def remark(self, *spans: Span) -> str:
        """A remark inside a MathJax `aligned` block: its text in \\text{}, its maths as is."""
        out = []
        for span in spans:
            if isinstance(span, Math):
                out.append(span.tex)
            elif isinstance(span, Code):
                out.append(r"\texttt{" + _text_safe(span.text) + "}")
            elif span:
                out.append(r"\text{" + _text_safe(span) + "}")
        return "".join(out)

    def code(self, text: str) -> str:
        """An inline code span."""
        return md_code(text)


def _text_safe(text: str) -> str:
    """Text for MathJax's \\text{}: braces, which it would read as groups, as parentheses."""
    return text.replace("{", "(").replace("}", ")")


MARKDOWN = MarkdownWriter()
