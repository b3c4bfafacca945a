"""The derivation as a Jupyter notebook: MathJax maths, the generated trainer's code, and a run.

`write` serves `symbackprop emit notebook`. The cells are laid out by
templates/notebook_cells.jinja; the maths and prose are document_model's, printed for Markdown
by its Writer (MathJax reads the same LaTeX maths), and every code cell defining the network
is a piece of the verified trainer source, never re-derived here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy as sp

from ..derive import H, LayerRule
from ..errors import UserError
from ..printing.latex import tex
from ..printing.markdown import MARKDOWN, md_code, md_escape, md_inline
from ..printing.notation import array_tex
from ..printing.tex import Display, number_tex
from ..spec import NetworkSpec, registry
from . import document_model, render
from . import trainer as codegen

TEMPLATE = "notebook_cells.jinja"
# `%%cell markdown intro`: the template's cell boundaries (kind, then a stable cell id)
CELL_MARK = re.compile(r"^%%cell (markdown|code) ([A-Za-z0-9_-]+)[ \t]*$", re.MULTILINE)
# which code cell each trainer function goes to; a function not named here (a helper) goes to
# the cell of its first caller, and statements before the first function go to "setup"
SECTION_OF = {
    "init_params": "forward",
    "forward": "forward",
    "_loss_value": "loss",
    "loss": "loss",
    "loss_and_gradients": "backward",
    "gradients": "backward",
    "sgd_step": "training",
    "train": "training",
}
SECTIONS = ("setup", "forward", "loss", "backward", "training")
# what the notebook keeps of the trainer after its constants: these functions and all they use
# (make_data: the data cell's random set); the command-line program is left out
ROOTS = (*SECTION_OF, "make_data")
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
        op = registry.activation(name).latex
        derivative = f"${op}'(z) = {tex(rule.derivative)}$"
        if H in rule.derivative.free_symbols:
            derivative += f", where $h = {op}(z)$"
        rows[name] = ActivationRow(
            md_escape(name), where, f"${op}(z) = {tex(rule.forward)}$", derivative
        )
    return list(rows.values())


def update_rules(spec: NetworkSpec) -> str:
    """W <- W - eta dL/dW for every parameter, as one MathJax block."""
    rules = []
    for name in spec.param_names:
        p = array_tex(name)
        grad = rf"\frac{{\partial \mathcal{{L}}}}{{\partial {p}}}"
        rules.append(Display(p, (rf"{p} - \eta\, {grad}",), relation=r"\leftarrow"))
    return aligned(rules)


# --------------------------------------------------------------------------- trainer code


def _defines(node: ast.stmt) -> list[str]:
    """The module-level names a statement defines (a function, class or assignment)."""
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return [node.name]
    targets = (
        node.targets
        if isinstance(node, ast.Assign)
        else [node.target]
        if isinstance(node, ast.AnnAssign)
        else []
    )
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _names(node: ast.AST) -> set[str]:
    """Every name a statement refers to."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def split_trainer(source: str) -> dict[str, str]:
    """The generated trainer cut into the notebook's code cells, by SECTIONS.

    This reads our own rendered trainer (never another module's maths or prose): the cells
    must be the exact source the proof ran, and the trainer template renders one file, so it
    is split at its top-level definitions.
    Everything before the first function (imports, the spec's constants and data) is "setup".
    After it, only what the notebook needs is kept: the functions of SECTION_OF and everything
    they use, each in its SECTION_OF cell or else in the cell of its first user. The module
    docstring (the Markdown says it better), the command-line program (`main` and what only it
    uses, the `__main__` block) and imports nothing kept uses are left out.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    pieces: list[tuple[ast.stmt, str]] = []
    start = 0
    for node in tree.body:
        pieces.append((node, "\n".join(lines[start : node.end_lineno])))
        start = node.end_lineno or start
    if pieces and isinstance(pieces[0][0], ast.Expr):
        pieces = pieces[1:]  # the module docstring
    first = next(
        (i for i, (n, _) in enumerate(pieces) if isinstance(n, ast.FunctionDef)),
        len(pieces),
    )
    head, body = pieces[:first], pieces[first:]
    defined = {name: node for node, _ in body for name in _defines(node)}
    needed = set(ROOTS) & set(defined)
    todo = list(needed)
    while todo:
        for name in _names(defined[todo.pop()]) & set(defined) - needed:
            needed.add(name)
            todo.append(name)
    body = [(n, t) for n, t in body if set(_defines(n)) & needed]
    section_of = _sections([n for n, _ in body])
    used = set().union(*(_names(n) for n, _ in head + body if not _is_import(n)))
    cells: dict[str, list[str]] = {s: [] for s in SECTIONS}
    # the blank line before a left-out import is kept for the statement after it
    carry = ""
    for node, text in head:
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if _is_import(node) and not future and not _imports(node) & used:
            carry = carry or ("\n" if text.startswith("\n") else "")
            continue
        cells["setup"].append(text if text.startswith("\n") else carry + text)
        carry = ""
    for node, text in body:
        cells[section_of[_defines(node)[0]]].append(text)
    missing = [s for s in SECTIONS if not cells[s]]
    if missing:
        raise UserError(
            f"internal error: the trainer has no code for notebook cells {missing}",
            exit_code=4,
        )
    return {s: "\n".join(cells[s]).strip("\n") for s in SECTIONS}


def _is_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom)


def _imports(node: ast.stmt) -> set[str]:
    """The names an import binds (none for a __future__ import, which is always kept)."""
    names = node.names if isinstance(node, ast.Import | ast.ImportFrom) else []
    return {(a.asname or a.name).split(".")[0] for a in names}


def _sections(body: Sequence[ast.stmt]) -> dict[str, str]:
    """Each kept definition's cell: by SECTION_OF, else its first user's, else the one before."""
    order = [name for node in body for name in _defines(node)]
    users = {name: _names(node) for node in body for name in _defines(node)}
    positional: dict[str, str] = {}
    section = SECTIONS[1]
    for name in order:
        section = SECTION_OF.get(name, section)
        positional[name] = section

    def resolve(name: str, seen: frozenset[str]) -> str:
        if name in SECTION_OF:
            return SECTION_OF[name]
        for user in order:
            if user not in seen and user != name and name in users[user]:
                return resolve(user, seen | {name})
        return positional[name]

    return {name: resolve(name, frozenset()) for name in order}


def _py_list(value: object) -> str:
    """A Python literal of nested sequences of numbers, as lists of floats."""
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_py_list(v) for v in value) + "]"
    return repr(float(value))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the notebook


def notebook_context(built: codegen.TrainerBuild, command: str) -> dict[str, Any]:
    """Everything the notebook template shows, as Markdown and code strings."""
    d = built.derivation
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
    # the layers whose activation's slope jumps at 0, found as formulas.py finds them
    kinked = [r for r in d.layers if r.derivative.has(sp.Heaviside, sp.Piecewise)]
    names = list(dict.fromkeys(registry.activation(r.activation).latex for r in kinked))
    return dict(
        header=[md_inline(line) for line in header],
        title=md_escape(spec.title),
        summary=md_code(spec.describe()),
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
        proof=md_escape(built.proof),
        lr=f"$\\eta = {number_tex(spec.lr)}$",
        lr_text=md_escape(repr(float(spec.lr))),
        epochs=spec.epochs,
        update=update_rules(spec),
        data=data,
        samples=f"{n} {'sample' if n == 1 else 'samples'}",
        X=_py_list(spec.X or ()),
        y=_py_list(spec.y or ()),
        code=split_trainer(built.source),
        kinks=repr(tuple(f"Z{r.index}" for r in kinked)),
        kink_names=" and ".join(f"${op}$" for op in names),
        kink_count=len(names),
    )


def parse_cells(text: str) -> list[Cell]:
    """Cut the rendered template at its `%%cell KIND ID` lines; code is ruff-formatted."""
    marks = list(CELL_MARK.finditer(text))
    cells = []
    for mark, following in zip(marks, marks[1:] + [None], strict=True):
        body = text[mark.end() : following.start() if following else len(text)]
        kind, cell_id = mark.groups()
        if kind == "code":
            body = render.format_python(body.strip("\n") + "\n")
        cells.append(Cell(kind, cell_id, body.strip("\n")))
    ids = [c.id for c in cells]
    if not cells or len(set(ids)) != len(ids):
        raise UserError(f"internal error: notebook cell ids {ids}", exit_code=4)
    return cells


def notebook_cells(built: codegen.TrainerBuild, command: str) -> list[Cell]:
    """The notebook's cells for a verified TrainerBuild (codegen.build_trainer)."""
    command = " ".join(command.split())
    return parse_cells(render.render(TEMPLATE, **notebook_context(built, command)))


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


def notebook_text(built: codegen.TrainerBuild, command: str) -> str:
    """The .ipynb text for a verified TrainerBuild."""
    return notebook_json(notebook_cells(built, command))


def write(
    built: codegen.TrainerBuild,
    output: Path,
    command: str,
    say: Callable[[str], None],
) -> int:
    """`emit notebook`: write the notebook for a verified build atomically; an exit code."""
    cells = notebook_cells(built, command)
    render.write_atomic(Path(output), notebook_json(cells))
    say(
        f"wrote {output} ({len(cells)} cells; derivation {built.derive_seconds:.2f} s; "
        f"proof: {built.proof})"
    )
    return 0


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
