"""Derivation documents: the LaTeX source from templates, compiled to the PDF a student hands in.

Every stage below gets what the orchestrator (cli.py) already made: the verified TrainerBuild
and, for the seed network, the checker's findings on the seed notebook. Nothing is derived,
proven or checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from ..files import write_atomic
from .seed_notebook import Finding
from .trainer import TrainerBuild

TEMPLATE = "derivation.tex.jinja"
# Overfull boxes up to this width (pt) are invisible in print; wider ones are reported.
OVERFULL_TOLERANCE = 3.0


def derivation_tex(
    built: TrainerBuild,
    command: str,
    findings: tuple[Finding, ...] | None = None,
    layout: str = "rows",
) -> str:
    """The document's LaTeX source for a verified TrainerBuild (trainer.build_trainer), its
    matrix equations in `layout`."""
    from . import document_model, render
    from . import trainer as codegen

    d = built.derivation
    doc = document_model.document(
        d,
        codegen.load_trainer(built.source),
        header=render.header(d.spec.describe(), command),
        findings=findings,
        layout=layout,
    )
    return render.render(TEMPLATE, doc=doc)


def build_documents(
    built: TrainerBuild,
    out: Path,
    command: str,
    say: Callable[[str], None],
    findings: tuple[Finding, ...] | None = None,
) -> int:
    """Write derivation_<tag>.tex and .pdf next to the trainer; returns an exit code."""

    spec = built.derivation.spec
    tex_path = Path(out) / f"derivation_{spec.tag}.tex"
    source = derivation_tex(built, command, findings)
    write_atomic(tex_path, source)
    say(f"wrote {tex_path}")
    return _compile_to(
        source,
        tex_path.with_suffix(".pdf"),
        say,
        wrote=f"wrote {tex_path}",
        unicode=_unicode(built),
    )


def write_pdf(
    built: TrainerBuild,
    output: Path,
    command: str,
    say: Callable[[str], None],
    findings: tuple[Finding, ...] | None = None,
    layout: str = "rows",
) -> int:
    """`pdf`: compile the document to `output` (the .tex beside it on failure)."""
    source = derivation_tex(built, command, findings, layout)
    return _compile_to(
        source, Path(output), say, tex_beside=True, unicode=_unicode(built)
    )


def _unicode(built: TrainerBuild) -> bool:
    from .document_model import unicode_document

    return unicode_document(built.derivation.spec)


def _compile_to(
    source: str,
    pdf_path: Path,
    say: Callable[[str], None],
    *,
    wrote: str = "",
    tex_beside: bool = False,
    unicode: bool = False,
) -> int:
    """Compile and write the PDF atomically; without TeX or on an error, keep the .tex."""
    from . import pdf, render

    engine = pdf.find_tex(unicode)
    if engine is None:
        if tex_beside:
            wrote = _keep_tex(source, pdf_path, say)
        raise pdf.no_tex_error(wrote or "the .tex was written", unicode)
    try:
        result = pdf.compile_tex(source, engine)
    except pdf.LatexError as exc:
        for line in exc.excerpt:
            render.eprint(f"  {line}")
        if tex_beside:
            exc.message += f" ({_keep_tex(source, pdf_path, say)} to inspect)"
        raise
    write_atomic(pdf_path, result.pdf)
    wide = [w for w in result.overfull if w > OVERFULL_TOLERANCE]
    if wide:
        say(
            f"warning: {len(wide)} lines run past the margin (up to {max(wide):.1f} pt)"
        )
    say(f"wrote {pdf_path} ({result.pages} pages, {result.engine})")
    return 0


def _keep_tex(source: str, pdf_path: Path, say: Callable[[str], None]) -> str:
    """Write the .tex beside the requested PDF (unless a file we did not write is there)."""
    from . import render

    tex_path = pdf_path.with_suffix(".tex")
    try:
        render.check_writable(tex_path, force=False)
    except UserError:
        return f"{tex_path} exists and was not written by symbackprop, so no .tex was written"
    write_atomic(tex_path, source)
    say(f"wrote {tex_path}")
    return f"wrote {tex_path}"
