"""Derivation documents (LaTeX, PDF, notebook): placeholder until the documents issue lands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .errors import UserError


def build_documents(built, out: Path, command: str, say: Callable[[str], None]) -> int:  # noqa: ANN001
    """Write derivation_<tag>.tex and .pdf next to the trainer; returns an exit code."""
    say("note: LaTeX/PDF documents are not implemented yet (use --no-pdf)")
    return 0


def emit(artefact: str, spec, output: Path, command: str, say: Callable[[str], None]) -> int:  # noqa: ANN001
    """Write one document artefact (latex, pdf, notebook) for a spec."""
    raise UserError(f"emit {artefact} is not implemented yet")
