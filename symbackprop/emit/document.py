"""Derivation documents: the LaTeX source from templates, compiled to the PDF a student hands in.

`build_documents` is what `symbackprop build` runs; `emit` serves `emit latex`, `pdf` and
`emit notebook` (which notebook.py writes).
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError

TEMPLATE = "derivation.tex.jinja"
SEED_NOTEBOOK = "notebook_221_relu.txt"
# Overfull boxes up to this width (pt) are invisible in print; wider ones are reported.
OVERFULL_TOLERANCE = 3.0


@dataclass(frozen=True)
class Finding:
    """One part of the seed notebook as judged: forward, or a gradient (W1, b1, ...)."""

    part: str
    status: str  # ok, wrong, error, or differs (when only the numbers were compared)
    diagnoses: tuple[str, ...]
    message: str


def derivation_tex(built: Any, command: str) -> str:
    """The document's LaTeX source for a verified TrainerBuild (codegen.build_trainer)."""
    from ..printing import latex
    from . import render
    from . import trainer as codegen

    d = built.derivation
    trainer = codegen.load_trainer(built.source)
    doc = latex.document_data(
        d,
        trainer,
        proof=built.proof,
        header=render.header(d.spec.describe(), command),
        notebook=notebook_check(d.spec, trainer),
    )
    return render.render(TEMPLATE, doc=doc)


def build_documents(built, out: Path, command: str, say: Callable[[str], None]) -> int:  # noqa: ANN001
    """Write derivation_<tag>.tex and .pdf next to the trainer; returns an exit code."""
    from . import render

    spec = built.derivation.spec
    tex_path = Path(out) / f"derivation_{spec.tag}.tex"
    source = derivation_tex(built, command)
    render.write_atomic(tex_path, source)
    say(f"wrote {tex_path}")
    return _compile_to(
        source, tex_path.with_suffix(".pdf"), say, wrote=f"wrote {tex_path}"
    )


def emit(
    artefact: str, spec, output: Path, command: str, say: Callable[[str], None]
) -> int:  # noqa: ANN001
    """Write one document artefact (latex, pdf, notebook) for a spec; returns an exit code."""
    if artefact == "notebook":
        from . import notebook

        return notebook.emit(spec, Path(output), command, say)
    if artefact not in ("latex", "pdf"):
        raise UserError(f"emit {artefact} is not implemented yet")
    from . import render
    from . import trainer as codegen

    output = Path(output)
    built = codegen.build_trainer(spec, command=command)
    for note in built.derivation.notes:
        say(f"note: {note}")
    source = derivation_tex(built, command)
    if artefact == "latex":
        render.write_atomic(output, source)
        say(
            f"wrote {output} (derivation {built.derive_seconds:.2f} s; proof: {built.proof})"
        )
        return 0
    return _compile_to(source, output, say, tex_beside=True)


def _compile_to(
    source: str,
    pdf_path: Path,
    say: Callable[[str], None],
    *,
    wrote: str = "",
    tex_beside: bool = False,
) -> int:
    """Compile and write the PDF atomically; without TeX or on an error, keep the .tex."""
    from . import pdf, render

    engine = pdf.find_tex()
    if engine is None:
        if tex_beside:
            wrote = _keep_tex(source, pdf_path, say)
        raise pdf.no_tex_error(wrote or "the .tex was written")
    try:
        result = pdf.compile_tex(source, engine)
    except pdf.LatexError as exc:
        for line in exc.excerpt:
            render.eprint(f"  {line}")
        if tex_beside:
            exc.message += f" ({_keep_tex(source, pdf_path, say)} to inspect)"
        raise
    render.write_atomic(pdf_path, result.pdf)
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
    render.write_atomic(tex_path, source)
    say(f"wrote {tex_path}")
    return f"wrote {tex_path}"


# --------------------------------------------------------------------------- the seed notebook


def is_seed_network(spec) -> bool:  # noqa: ANN001
    """True for the seed notebook's network, data, weights and training settings."""
    from ..spec import default_spec

    seed = default_spec()
    keys = ("layers", "activations", "loss", "reduction", "lr", "X", "y")
    same = all(getattr(spec, k) == getattr(seed, k) for k in keys)
    if not same or spec.params is None or seed.params is None:
        return False
    return all(tuple(spec.params[k]) == tuple(seed.params[k]) for k in seed.param_names)


def seed_notebook_path() -> Path:
    """The packaged seed notebook (a student's wrong backprop, with its printed output)."""
    return Path(str(importlib.resources.files("symbackprop") / "data" / SEED_NOTEBOOK))


def printed_epoch(text: str, epoch: int = 1) -> dict[str, list[float]]:
    """The values a notebook prints on one `Epoch: 1 loss: ... W1_grad: [...]` line."""
    for line in text.splitlines():
        m = re.match(rf"^\s*Epoch:\s*{epoch}\s+loss:\s*(\S+)\s+(.*)$", line)
        if m:
            out = {"loss": [float(m.group(1))]}
            for name, values in re.findall(r"(\w+)_grad:\s*\[([^\]]*)\]", m.group(2)):
                out[name] = [float(v) for v in values.split()]
            return out
    raise UserError(f"no 'Epoch: {epoch}' line in the notebook's output", exit_code=4)


def notebook_findings(
    path: Path, correct: dict[str, list[float]], printed: dict[str, list[float]]
) -> tuple[list[Finding], bool]:
    """The checker's verdict on the notebook (True), or only which printed values differ."""
    try:
        from ..check import check_code  # type: ignore[attr-defined]
    except ImportError:
        check_code = None
    if check_code is not None:
        report = check_code(path)
        findings = [_finding("forward", report.get("forward", {}))]
        for name, part in report.get("gradients", {}).items():
            findings.append(_finding(name, part))
        # no absolute path in the document: the checker names the file, keep only its name
        folder = str(Path(path).parent) + "/"
        findings = [
            Finding(f.part, f.status, f.diagnoses, f.message.replace(folder, ""))
            for f in findings
        ]
        return findings, True
    names = [n for n in correct if n != "loss"]
    differ = [n for n in names if printed.get(n) != correct[n]]
    agree = [n for n in names if n not in differ]
    findings = [Finding(", ".join(differ), "differs", (), "")] if differ else []
    findings += [Finding(", ".join(agree), "ok", (), "")] if agree else []
    return findings, False


def _finding(part: str, report: dict) -> Finding:
    return Finding(
        part,
        str(report.get("status", "error")),
        tuple(report.get("diagnoses", ()) or ()),
        str(report.get("message", "") or ""),
    )


def notebook_check(spec, trainer):  # noqa: ANN001, ANN201 - NetworkSpec, module -> NotebookCheck
    """The "Checking the notebook" section for the seed network, else None."""
    if not is_seed_network(spec):
        return None
    import numpy as np

    from ..check.diagnoses import EXPLANATIONS
    from ..printing import latex

    path = seed_notebook_path()
    printed = printed_epoch(path.read_text(encoding="utf-8"))
    X, y = trainer.DEFAULT_X, trainer.DEFAULT_Y
    params = {k: v.copy() for k, v in trainer.DEFAULT_PARAMS.items()}
    value, grads = trainer.loss_and_gradients(params, X, y)
    per_sample = value / len(X) if spec.reduction == "sum" else value
    correct = {"loss": [float(np.round(per_sample, 4))]}
    for name in trainer.GRAD_ORDER:
        correct[name] = [float(v) for v in np.round(grads[name].flatten(), 2)]
    rows = [
        latex.NotebookRow(
            "loss (mean over samples)"
            if name == "loss"
            else latex.escape_tex(f"{name}_grad"),
            _values(printed.get(name), 4 if name == "loss" else 2),
            _values(values, 4 if name == "loss" else 2),
            printed.get(name) == values,
        )
        for name, values in correct.items()
    ]
    findings, checked = notebook_findings(path, correct, printed)
    items = []
    for f in findings:
        plural = "," in f.part
        label = (
            "The forward pass"
            if f.part == "forward"
            else f"The gradients of {f.part}"
            if plural
            else f"The gradient of {f.part}"
        )
        label = latex.escape_tex(label)
        if f.status == "ok":
            items.append(f"{label}: correct.")
            continue
        if f.status == "differs":
            items.append(f"{label}: the printed values differ from the correct ones.")
            # (the values differ when the forward pass is wrong, even where the formula is right)
            continue
        named = [
            rf"\texttt{{{latex.escape_tex(c)}}}: {latex.escape_tex(EXPLANATIONS.get(c, c))}"
            for c in f.diagnoses
        ]
        text = f"{label}: {f.status}" + (" (" + "; ".join(named) + ")" if named else "")
        if f.message:
            text += ". " + latex.escape_tex(f.message)
        items.append(text.rstrip(".") + ".")
    source = (
        "The coursework checker (\\texttt{symbackprop check-code}) runs the notebook's own "
        "functions and names its mistakes:"
        if checked
        else "The coursework checker is not available in this installation, so its mistakes "
        "are not named here; comparing the printed numbers only:"
    )
    return latex.NotebookCheck(tuple(rows), tuple(items), source)


def _values(values: list[float] | None, decimals: int) -> str:
    if values is None:
        return "(not printed)"
    shown = ", ".join(f"{v:.{decimals}f}".replace("-0.00", "0.00") for v in values)
    return f"$({shown})$" if len(values) > 1 else f"${shown}$"
