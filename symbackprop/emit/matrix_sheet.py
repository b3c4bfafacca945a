"""The documents' section "The backward pass as matrix equations": the course's equations,
printed from the derivation's Program in the layout asked for (check-formulas' own trees)."""

from __future__ import annotations

from dataclasses import dataclass

from ..check.formulas.matrix import ast as A
from ..check.formulas.matrix.course import batch_name, course_equations, course_names
from ..check.formulas.matrix.printer import show
from ..derive import Derivation
from ..printing.prose import Code, Math, Writer
from ..printing.tex import Display
from ..spec import names


@dataclass(frozen=True)
class MatrixSheet:
    """The section: its layout, an introduction, the equations (LaTeX) and what they mean."""

    layout: str
    intro: str
    equations: tuple[Display, ...]
    notes: str


def matrix_sheet(d: Derivation, layout: str, w: Writer) -> MatrixSheet:
    """dZ, dW, db of every layer, output layer first, as `check-formulas --matrix` accepts."""
    prog = d.program_for(layout)
    brackets = "[]" if layout == "columns" else "()"
    cols = layout == "columns"
    n = batch_name(layout)
    equations = tuple(
        Display(show(A.Name(e.name), "latex", layout), (show(e.tree, "latex", layout),))
        for e in course_equations(prog, d.spec.reduction)
    )
    depth = d.spec.depth
    out = show(A.Name(course_names(prog)[prog.prediction]), "latex", layout)
    output_error = show(A.Name(names.delta(depth)), "latex", layout)
    hidden = "A" if cols else "H"
    intro = w.text(
        "The same backward pass for the whole batch, in the matrix equations courses teach"
        + (
            " (deeplearning.ai's form: one sample per column, "
            if cols
            else " (the trainer's and CS231n's form: one sample per row, "
        ),
        Math(
            r"X \in \mathbb{R}^{n \times m}"
            if cols
            else r"X \in \mathbb{R}^{N \times n}"
        ),
        "). Each is printed from the program the trainer runs, and ",
        Code(f"symbackprop check-formulas --layout {layout}"),
        " accepts them as written:",
    )
    mean = d.spec.reduction == "mean"
    notes = w.text(
        Math(rf"{hidden}^{{{brackets[0]}l{brackets[1]}}}"),
        " are the activations of layer ",
        Math("l"),
        ", ",
        Math(out),
        " the predictions and ",
        Math("Y"),
        " the targets; writing two arrays side by side is the matrix product, ",
        Math(r"\odot"),
        " the entrywise product, and ",
        Math(r"\sum"),
        " sums over the samples (the "
        + ("columns" if cols else "rows")
        + "), giving one number per unit. ",
        Math(output_error),
        " is each sample's own error"
        + (
            ", so the gradients of the mean loss carry the "
            if mean
            else "; the loss sums over the samples, so no "
        ),
        Math(f"1/{n}"),
        "." if mean else " appears.",
        ""
        if cols
        else " Each weight matrix is (units, inputs), as the trainer's; with CS231n's "
        "(inputs, units) weights every weight gradient is transposed (",
        "" if cols else Code("--weights inputs_first"),
        "" if cols else ").",
    )
    return MatrixSheet(layout, intro, equations, notes)
