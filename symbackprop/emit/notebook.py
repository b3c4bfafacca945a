"""The derivation as a Jupyter notebook: MathJax maths, the generated trainer's code, and a run.

`write` serves `symbackprop emit notebook`. The cells come in CELLS order, from the blocks of
templates/notebook_cells.jinja; the maths and prose are document_model's, printed for Markdown
by its Writer (MathJax reads the same LaTeX maths), and every code cell defining the network
is made of the verified trainer's own sections (trainer.Section), never re-derived or re-cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._lazy import sympy as sp
from ..derive import H, LayerRule
from ..errors import UserError
from ..printing.latex import tex
from ..printing.markdown import MARKDOWN, md_escape, md_inline
from ..printing.tex import Display
from ..spec import NetworkSpec, registry
from ..spec import names as names_of
from . import document_model, render
from . import trainer as codegen
from .matrix_sheet import matrix_sheet

TEMPLATE = "notebook_cells.jinja"
# the notebook's cells in order: (kind, stable id); a cell of TRAINER_CELLS is the trainer's own
# code, every other one the template's block of its id ("-" written "_")
CELLS = (
    ("markdown", "intro"),
    ("markdown", "about-network"),
    ("code", "setup"),
    ("code", "forward"),
    ("markdown", "about-loss"),
    ("code", "loss"),
    ("markdown", "about-backward"),
    ("code", "backward"),
    ("markdown", "about-training"),
    ("code", "training"),
    ("markdown", "about-data"),
    ("code", "data"),
    ("markdown", "about-gradient-check"),
    ("code", "gradient-check"),
    ("markdown", "about-training-run"),
    ("code", "training-run"),
    ("markdown", "about-loss-curve"),
    ("code", "loss-curve"),
)
# the trainer's sections (trainer.SECTIONS) each code cell of the network shows, as the trainer
# joins them; the docstring, the imports only the command line uses (argparse, sys) and the
# command-line program (format, data, weights, gradcheck, main) are left out
TRAINER_CELLS = {
    "setup": (
        "future",
        "import_math",
        "import_callable",
        "import_typing",
        "import_numpy",
        "constants",
    ),
    "forward": ("forward",),
    "loss": ("loss", "predict"),
    "backward": ("plain_backward", "backward"),
    "training": ("optimizers", "training", "make_data"),
}
METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


@dataclass(frozen=True)
class Cell:
    """One notebook cell: "markdown" or "code", its stable id, and its source."""

    kind: str
    id: str
    source: str


@dataclass(frozen=True)
class ActivationRow:
    """One row of the activation table, every field ready Markdown."""

    name: str
    layers: str
    function: str
    derivative: str


def _cell_text(text: str) -> str:
    """A Markdown table cell: pipes escaped, on one line."""
    return " ".join(text.replace("|", r"\|").split())


# --------------------------------------------------------------------------- maths blocks


def aligned(displays: Sequence[Display]) -> str:
    """Display equations as one MathJax block, aligned at the relation, remarks at the right."""
    if not displays:
        return ""
    lines = []
    for e in displays:
        line = f"{e.lhs} &{e.relation} {e.rhs[0]}"
        if e.remark:
            line += r" &&\qquad " + e.remark
        lines.append(line)
        lines += [f"&{more}" for more in e.rhs[1:]]
    return "$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$"


def code_table(rows: Sequence[document_model.CodeRow]) -> str:
    """The trainer's statements next to the maths they compute, as a Markdown table."""
    out = ["| Maths | Shape | Trainer code | What |", "|---|---|---|---|"]
    for row in rows:
        cells = (f"${row.maths}$", row.shape, row.code, row.comment)
        out.append("| " + " | ".join(_cell_text(c) for c in cells) + " |")
    return "\n".join(out)


def activation_rows(
    spec: NetworkSpec, rules: Sequence[LayerRule]
) -> list[ActivationRow]:
    """Each activation of the network once: act(z) and SymPy's act'(z), via latex.tex."""
    rows: dict[str, ActivationRow] = {}
    for rule in rules:
        name = rule.activation
        where = f"{rule.index}" + (" (output)" if rule.index == spec.depth else "")
        if name in rows:
            old = rows[name]
            rows[name] = ActivationRow(
                old.name, f"{old.layers}, {where}", old.function, old.derivative
            )
            continue
        op = registry.activation(name).mathjax
        vector = registry.activation(name).vector
        if vector is not None:  # softmax: each output reads every z of the layer
            zs = [sp.Symbol(f"z_{i + 1}") for i in range(rule.units)]
            rows[name] = ActivationRow(
                md_escape(name),
                where,
                f"${op}(z)_1 = {tex(vector(zs)[0])}$",
                "couples the outputs (a Jacobian); the loss's output error is taken "
                "through it in one step, below",
            )
            continue
        derivative = f"${op}'(z) = {tex(rule.derivative)}$"
        if H in rule.derivative.free_symbols:
            derivative += f", where $h = {op}(z)$"
        rows[name] = ActivationRow(
            md_escape(name), where, f"${op}(z) = {tex(rule.forward)}$", derivative
        )
    return list(rows.values())


# --------------------------------------------------------------------------- trainer code


def trainer_cells(built: codegen.TrainerBuild) -> dict[str, str]:
    """The network's code cells: each the join of its TRAINER_CELLS sections, as proven."""
    cells = {
        cell: codegen.join_sections(built.sections, names).removesuffix("\n")
        for cell, names in TRAINER_CELLS.items()
    }
    missing = [cell for cell, text in cells.items() if not text]
    if missing:
        raise UserError(
            f"internal error: the trainer has no code for notebook cells {missing}",
            exit_code=4,
        )
    return cells


def _py_list(value: object) -> str:
    """A Python literal of nested sequences of numbers, as lists of floats."""
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_py_list(v) for v in value) + "]"
    return repr(float(value))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the notebook


def notebook_context(
    built: codegen.TrainerBuild, command: str, layout: str = "rows"
) -> dict[str, Any]:
    """Everything the notebook template shows, as Markdown and code strings (the matrix
    equations in `layout`)."""
    d = built.derivation
    sheet = matrix_sheet(d, layout, MARKDOWN)
    spec = d.spec
    header = render.header(spec.describe(), command)
    m = document_model.maths(d, MARKDOWN)
    if spec.X is not None and spec.y is not None and spec.params:
        data = "trainer"  # the trainer holds DEFAULT_X, DEFAULT_Y and DEFAULT_PARAMS
    elif spec.X is not None:
        data = "spec"
    else:
        data = "random"
    n = len(spec.X) if spec.X is not None else 0
    # the layers whose activation has a kink (the registry's, from SymPy's derivative)
    kinked = [r for r in d.layers if registry.activation(r.activation).kink]
    names = list(
        dict.fromkeys(registry.activation(r.activation).mathjax for r in kinked)
    )
    return dict(
        header=[md_inline(line) for line in header],
        title=md_escape(spec.title),
        summary=document_model.summary(spec, MARKDOWN),
        layers_text="-".join(map(str, spec.layers)),
        conventions=m.conventions,
        activations=activation_rows(spec, d.layers),
        forward_general=aligned(m.forward_general),
        forward_vector=aligned(m.forward_vector),
        forward_table=code_table(m.forward_code),
        reduction_text=m.reduction_text,
        loss=aligned([m.loss_sample, m.loss_batch]),
        local=aligned(m.local),
        step_convention=m.step_convention,
        deltas=aligned(m.deltas_general),
        chain=aligned(m.chain),
        closed_forms=aligned(m.closed_forms),
        closed_forms_note=m.closed_forms_note,
        general_note=m.general_note,
        backward_vector=aligned(m.backward_vector),
        backward_table=code_table(m.backward_code),
        sheet_intro=sheet.intro,
        sheet=aligned(sheet.equations),
        sheet_notes=sheet.notes,
        checked=m.checked,
        lr_text=md_escape(repr(float(spec.lr))),
        epochs=spec.epochs,
        optimizer_intro=m.optimizer_intro,
        update=aligned(m.optimizer),
        data=data,
        samples=f"{n} {'sample' if n == 1 else 'samples'}",
        X=_py_list(spec.X or ()),
        y=_py_list(spec.y or ()),
        kinks=repr(tuple(names_of.pre_activation(r.index) for r in kinked)),
        kink_names=" and ".join(f"${op}$" for op in names),
        kink_count=len(names),
    )


def notebook_cells(
    built: codegen.TrainerBuild, command: str, layout: str = "rows"
) -> list[Cell]:
    """The notebook's cells for a verified TrainerBuild (codegen.build_trainer).

    The trainer's cells are its sections as they are (formatted when the trainer was); the
    template's blocks are rendered one by one, its code cells ruff-formatted in one call.
    """
    command = " ".join(command.split())
    code = trainer_cells(built)
    own = [(kind, cell_id) for kind, cell_id in CELLS if cell_id not in code]
    blocks = [cell_id.replace("-", "_") for _, cell_id in own]
    context = notebook_context(built, command, layout)
    texts = [t.strip("\n") for t in render.render_blocks([TEMPLATE], blocks, **context)]
    at = [i for i, (kind, _) in enumerate(own) if kind == "code"]
    formatted = render.format_python_many([texts[i] + "\n" for i in at])
    for i, text in zip(at, formatted, strict=True):
        texts[i] = text.strip("\n")
    mine = {cell_id: text for (_, cell_id), text in zip(own, texts, strict=True)}
    return [
        Cell(kind, cell_id, code[cell_id] if cell_id in code else mine[cell_id])
        for kind, cell_id in CELLS
    ]


def notebook_json(cells: Sequence[Cell]) -> str:
    """The .ipynb text (nbformat 4.5, validated): no outputs, no execution counts, stable ids."""
    nbformat = _nbformat()
    from nbformat import v4

    nb = v4.new_notebook(metadata=METADATA)
    for cell in cells:
        make: Callable[..., Any] = (
            v4.new_code_cell if cell.kind == "code" else v4.new_markdown_cell
        )
        nb.cells.append(make(cell.source, id=cell.id))
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def notebook_text(
    built: codegen.TrainerBuild, command: str, layout: str = "rows"
) -> str:
    """The .ipynb text for a verified TrainerBuild, its matrix equations in `layout`."""
    return notebook_json(notebook_cells(built, command, layout))


def require_nbformat() -> None:
    """Fail at once (before any derivation) when nbformat is missing."""
    _nbformat()


def _nbformat() -> Any:
    """The nbformat module, or a one-line error saying how to install it."""
    try:
        import nbformat
    except ImportError:
        raise UserError(
            "nbformat is not installed; run: pip install 'nbformat>=5.7,<6'",
            exit_code=4,
        ) from None
    return nbformat
