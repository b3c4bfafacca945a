"""The documents' section "The backward pass as matrix equations": the same equations
check-formulas --matrix accepts, in the layout asked for (rows, or deeplearning.ai's columns).

Round trip: the equations are printed as plain text by check-formulas' own printer (the trees
the template's and the fixes' names come from) and fed to check-formulas; every one must be ok.
The document is checked to show exactly those equations, printed in LaTeX.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from symbackprop.check.formulas.matrix import ast as A
from symbackprop.check.formulas.matrix.check import check_matrix
from symbackprop.check.formulas.matrix.course import course_equations
from symbackprop.check.formulas.matrix.printer import show
from symbackprop.derive import derive
from symbackprop.emit import document as documents
from symbackprop.emit import notebook
from symbackprop.emit import trainer as codegen
from symbackprop.spec import default_spec, make_spec

SPECS = {
    "seed": default_spec(),
    "dlai": make_spec(
        layers=[3, 4, 1],
        activations=["relu", "identity"],
        loss="bce_with_logits",
        reduction="mean",
    ),
    "deep": make_spec(
        layers=[3, 4, 5, 3],
        activations=["tanh", "sigmoid", "identity"],
        loss="softmax_cross_entropy",
        reduction="mean",
    ),
}


def _plain(spec: object, layout: str, style: str = "maths") -> str:
    prog = derive(spec, closed_forms=False).program_for(layout)
    eqs = course_equations(prog, spec.reduction)
    lines = []
    for e in eqs:
        name = show(A.Name(e.name), style, layout)
        lines.append(f"{name} = {show(e.tree, style, layout)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_document_equations_pass_check_formulas(name: str, layout: str) -> None:
    spec = SPECS[name]
    for style in ("maths", "numpy", "latex"):  # the document's own LaTeX too
        text = _plain(spec, layout, style)
        report = check_matrix(spec, text, name, layout)
        assert report.ok, [(v.name, v.status, v.message) for v in report.verdicts]
        assert len(report.verdicts) == 3 * spec.depth


def test_the_forms_are_the_courses() -> None:
    dlai = _plain(SPECS["dlai"], "columns").splitlines()
    assert dlai[:4] == [
        "dZ2 = A2 - Y",
        "dW2 = 1/m dZ2 A1^T",
        "db2 = 1/m Σ dZ2",
        "dZ1 = W2^T dZ2 * 1[Z1 > 0]",
    ]
    rows = _plain(SPECS["seed"], "rows").splitlines()
    assert rows[1] == "dW2 = dZ2^T H1" and rows[3].startswith("dZ1 = dZ2 W2 * ")
    deep = _plain(SPECS["deep"], "rows").splitlines()
    assert deep[1] == "dW3 = 1/N dZ3^T H2" and deep[0] == "dZ3 = Yhat - Y"


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_document_and_notebook_show_the_equations(layout: str) -> None:
    spec = SPECS["dlai"]
    built = codegen.build_trainer(spec, command="test")
    source = documents.derivation_tex(built, "test", layout=layout)
    prog = built.derivation.program_for(layout)
    section = source.split(r"\section{The backward pass as matrix equations}")[1]
    section = section.split(r"\section{")[0]
    for e in course_equations(prog, spec.reduction):
        lhs = show(A.Name(e.name), "latex", layout)
        assert f"{lhs} &= {show(e.tree, 'latex', layout)}" in section, e.name
    assert (r"A^{[2]} - Y" in section) == (layout == "columns")
    assert (
        r"\frac{1}{m}" in section if layout == "columns" else r"\frac{1}{N}" in section
    )
    cells = json.loads(notebook.notebook_text(built, "test", layout))["cells"]
    backward = next(c for c in cells if c["id"] == "about-backward")
    shown = "".join(backward["source"])
    assert "### The backward pass as matrix equations" in shown
    first = course_equations(prog, spec.reduction)[1]
    assert show(first.tree, "latex", layout) in shown


def test_cli_layout_option(tmp_path: Path) -> None:
    def emit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "symbackprop", "emit", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )

    out = tmp_path / "d.tex"
    done = emit("latex", "--layout", "columns", "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert r"dW^{[2]} &= dZ^{[2]}\,A^{[1]\top}" in text and "--layout columns" in text
    refused = emit("trainer", "--layout", "columns", "-o", str(tmp_path / "t.py"))
    assert refused.returncode == 2 and "--layout" in refused.stderr
