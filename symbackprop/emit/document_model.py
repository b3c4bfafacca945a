"""The derivation document's view model: plain dataclasses of printed strings, built once.

`maths` prints the derivation (formulas, the trainer's statements, prose) for one target
Writer: LaTeX for the PDF, Markdown for the notebook. `document` adds what only the PDF shows:
the symbol table, the drawing, the worked example and the seed notebook's check.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .. import __version__
from ..derive import Derivation
from ..derive import program as P
from ..printing import numpy as numpy_printing
from ..printing import updates
from ..printing.latex import ProgramLatexPrinter, tex
from ..printing.notation import act_tex, general, h_tex, has_link, symbol_tex, vec_h
from ..printing.prose import Code, Math, Span, Writer
from ..printing.tex import (
    TEX,
    Display,
    code_tex,
    escape_tex,
    needs_unicode_tex,
    shape_tex,
    visual_width,
)
from ..spec import NetworkSpec, names, optimizers, registry
from . import formulas, pdf
from .drawing import Drawing, drawing
from .example import ExampleSection, example_section
from .matrix_sheet import MatrixSheet, matrix_sheet
from .seed_notebook import Finding, NotebookCheck, notebook_check


@dataclass(frozen=True)
class SymbolRow:
    """One row of the notation table: maths, trainer name, meaning, shape (all LaTeX)."""

    symbol: str
    code: str
    meaning: str
    shape: str


@dataclass(frozen=True)
class CodeRow:
    """One trainer statement: the maths it computes, the result's shape, and the code itself."""

    maths: str
    shape: str
    code: str
    comment: str
    chars: int = 0  # the code's length in characters, before escaping


@dataclass(frozen=True)
class Maths:
    """The derivation, printed for one target (LaTeX maths; prose in the target's format)."""

    conventions: str
    activation_defs: tuple[Display, ...]
    forward_general: tuple[Display, ...]
    forward_units: tuple[Display, ...]
    forward_vector: tuple[Display, ...]
    forward_code: tuple[CodeRow, ...]
    forward_compact: bool
    loss_sample: Display
    loss_batch: Display
    loss_code: str
    reduction_text: str
    local: tuple[Display, ...]
    step_convention: str
    deltas_general: tuple[Display, ...]
    deltas_units: tuple[Display, ...]
    chain: tuple[Display, ...]
    elementwise: bool
    closed_forms: tuple[Display, ...]
    closed_forms_note: str
    general_note: str
    backward_code: tuple[CodeRow, ...]
    backward_compact: bool
    backward_vector: tuple[Display, ...]
    optimizer_intro: str
    optimizer: tuple[Display, ...]
    checked: str  # how the trainer's code was checked, for a student


@dataclass(frozen=True)
class DerivationDocument:
    """Everything templates/derivation.tex.jinja shows, as LaTeX strings."""

    header: tuple[str, ...]
    creator: str
    creator_pdf: str
    title: str
    summary: tuple[tuple[str, str], ...]
    layers_text: str
    drawing: Drawing
    symbols: tuple[SymbolRow, ...]
    maths: Maths
    example: ExampleSection
    notebook: NotebookCheck | None = None
    sheet: MatrixSheet | None = (
        None  # the backward pass as the course's matrix equations
    )
    notes: tuple[str, ...] = field(default_factory=tuple)
    unicode: bool = (
        False  # LuaLaTeX with OpenType fonts (see printing.tex.needs_unicode_tex)
    )
    fallback_fonts: str = (
        ""  # luaotfload's fallback list, for characters Latin Modern lacks
    )


# --------------------------------------------------------------------------- the trainer's code


def _what(step: P.Step, prog: P.Program) -> str:
    """What a statement computes, in a few words (the table has a column for the shape)."""
    return numpy_printing.what(step, prog)


def code_rows(d: Derivation, steps: Sequence[P.Step], w: Writer) -> tuple[CodeRow, ...]:
    """Each step as maths (printed from the Program) beside the trainer's NumPy for it."""
    prog = d.program
    maths = ProgramLatexPrinter(prog.layout, link=has_link(d))
    code = numpy_printing.ProgramPrinter(prog.layout, d.spec.alpha)
    rows = []
    for step in steps:
        line = code.statement(step)
        rows.append(
            CodeRow(
                maths.statement(step),
                f"${shape_tex(step.shape)}$",
                w.code(line),
                w.text(_what(step, prog)),
                len(line),
            )
        )
    return tuple(rows)


def compact_table(rows: Sequence[CodeRow]) -> bool:
    """True when maths, shape and code fit side by side; else each code line goes below."""
    return all(r.chars <= 40 and visual_width(r.maths) <= 30 for r in rows)


# --------------------------------------------------------------------------- prose


def conventions(d: Derivation, w: Writer) -> str:
    """How the symbols index the trainer's arrays."""
    return w.text(
        "Row ",
        Math("i"),
        " of ",
        Math("W^{(l)}"),
        " holds unit ",
        Math("i"),
        "'s weights, so ",
        Math(symbol_tex(general("W", 1, "i", "j"))),
        " is ",
        Code(f"{names.weight(1)}[i-1, j-1]"),
        " in the trainer; indices are written together while they are single digits (",
        Math(symbol_tex(names.weight_entry(1, 1, 2))),
        ") and with a comma otherwise (",
        Math(symbol_tex(names.weight_entry(1, 1, 12))),
        "). A superscript ",
        Math("(l)"),
        " names the layer; ",
        Math(vec_h(d, 0)),
        " is the input and ",
        Math(rf"\hat{{y}} = h^{{({len(d.layers)})}}"),
        " the output.",
    )


def penalty_words(d: Derivation) -> tuple[Span, ...]:
    """`, and adds the L2 penalty's 0.1 w_ij to each weight's`, or nothing without one."""
    slope = formulas.penalty_slope(d)
    if slope is None:
        return ()
    return (", and adds the L2 penalty's ", Math(tex(slope)), " to each weight's")


def general_note(d: Derivation, w: Writer) -> str:
    """Why a large network's document shows the per-layer rules only ('' when it does not)."""
    spec = d.spec
    if d.scalar is None:
        why = (
            "an entry of an early layer's gradient sums over every path to the outputs, so "
            "these formulas grow with the width of every later layer, while the per-layer "
            "rules above stay the same size. The per-layer rules are therefore the result."
        )
        if d.skipped == "penalty":
            return w.text(
                "The L2 penalty adds its term to every weight gradient in the per-layer "
                "rules above; one closed formula per parameter is not written out for a "
                "penalized loss. The per-layer rules are therefore the result."
            )
        if d.skipped == "parameters":
            return w.text(
                f"This network has {spec.param_count:,} parameters, too many to write out "
                f"a formula for each: {why}"
            )
        return w.text(
            "Written out, one parameter's closed formula would already be long for this "
            f"network: {why}"
        )
    if not formulas.elementwise(d):
        return w.text(
            f"This network has {spec.param_count:,} parameters. SymPy derived a closed form "
            "for every one of them (the trainer's docstring lists them), but printed here "
            "they would fill pages with near-identical formulas (the document prints them "
            f"up to {formulas.ELEMENT_LIMIT} parameters); the per-layer rules above say the "
            "same in a few lines."
        )
    return ""


def summary(spec: NetworkSpec, w: Writer) -> tuple[tuple[str, str], ...]:
    """The spec as a reader's table: (what, value) rows, for the title page."""
    acts: list[Span] = []
    for k, a in enumerate(spec.activations, 1):
        acts += [
            ", " if k > 1 else "",
            Math(registry.activation(a).latex),
            f" (layer {k})",
        ]
    over = "summed" if spec.reduction == "sum" else "averaged"
    loss: list[Span] = [Code(spec.loss), f", {over} over the samples"]
    if spec.l2:
        loss.append(f", plus an L2 penalty {spec.l2}")
    training: list[Span] = [
        Code(spec.optimizer),
        f", learning rate {spec.lr}, {spec.epochs} epochs, seed {spec.seed}",
    ]
    if spec.optimizer != "sgd":
        training += [f", {k} {v!r}" for k, v in spec.hyper.items()]
    if any(registry.activation(a).uses_alpha for a in spec.activations):
        training.append(f", leaky slope {spec.alpha}")
    if spec.dtype != "float64":
        training.append(f", {spec.dtype}")
    if spec.X is not None:
        data = f"{len(spec.X)} {'sample' if len(spec.X) == 1 else 'samples'}, from the spec"
    else:
        data = f"none given: a random {registry.loss(spec.loss).task} set"
    rows = [
        (
            "Network",
            w.text(f"{'-'.join(map(str, spec.layers))} (units per layer, input first)"),
        ),
        ("Activations", w.text(*acts)),
        ("Loss", w.text(*loss)),
        ("Training", w.text(*training)),
        ("Data", w.text(data)),
    ]
    rows += [
        (f"{f.kind.capitalize()} {f.name}", w.text(Code(f"{f.name} = {f.text}")))
        for f in spec.formulas
    ]
    rows.append(("Spec name", w.text(Code(spec.name))))
    return tuple(rows)


def checked(d: Derivation, w: Writer) -> str:
    """How the trainer's code was checked against SymPy, in a sentence for a student (the
    proof's own figures are printed by --verbose)."""
    if d.scalar is not None:
        return w.text(
            "Before this code was written out, symbackprop checked it against SymPy: every "
            "entry of these matrix products expands to SymPy's closed form for it, and the "
            "code's numbers equal the closed forms' at random points."
        )
    return w.text(
        "Before this code was written out, symbackprop checked it against SymPy on a small "
        "network with the same activations and loss, whose closed forms can be written "
        "out, and checked this network's gradient against finite differences."
    )


def maths(d: Derivation, w: Writer) -> Maths:
    """The derivation printed for one target: formulas, the trainer's statements, prose."""
    sample, batch, reduction_text = formulas.loss(d, w)
    deltas_general, deltas_units = formulas.deltas(d, w)
    forward_code = code_rows(d, d.program.forward, w)
    backward_code = code_rows(d, d.program.backward, w)
    averaged = "sums" if d.spec.reduction == "sum" else "averages"
    return Maths(
        conventions=conventions(d, w),
        activation_defs=formulas.activation_defs(d),
        forward_general=formulas.forward_general(d, w),
        forward_units=formulas.forward_units(d),
        forward_vector=formulas.forward_vector(d),
        forward_code=forward_code,
        forward_compact=compact_table(forward_code),
        loss_sample=sample,
        loss_batch=batch,
        loss_code=w.code(numpy_printing.loss_code(d)),
        reduction_text=reduction_text,
        local=formulas.local(d, w),
        step_convention=formulas.step_convention(d, w),
        deltas_general=deltas_general,
        deltas_units=deltas_units,
        chain=formulas.chain(d),
        elementwise=formulas.elementwise(d),
        closed_forms=formulas.closed_forms(d),
        closed_forms_note=w.text(
            f"for one sample; the batch gradient {averaged} these over the samples",
            *penalty_words(d),
        ),
        general_note=general_note(d, w),
        backward_code=backward_code,
        backward_compact=compact_table(backward_code),
        backward_vector=formulas.backward_vector(d),
        optimizer_intro=updates.update_intro(
            optimizers.optimizer(d.spec.optimizer), d.spec.lr, d.spec.hyper, w
        ),
        optimizer=updates.update_displays(optimizers.optimizer(d.spec.optimizer)),
        checked=checked(d, w),
    )


# --------------------------------------------------------------------------- the symbol table


def _entries(count: int, entry: Callable[[int], str], limit: int = 4) -> str:
    """Entries 1..count of a vector or matrix as text, each its own formula so lines can
    break; past `limit` the first two, dots and the last (only those are printed)."""
    shown = range(1, count + 1) if count <= limit else (1, 2, 0, count)
    items = [r"$\dots$" if t == 0 else f"${entry(t)}$" for t in shown]
    if len(items) > 2:  # the last two tied, so no entry wraps onto a line alone
        items[-2:] = [items[-2] + ",~" + items[-1]]
    return ", ".join(items)


def _weight_entry(k: int, fan_in: int) -> Callable[[int], str]:
    """Entry t (row by row, from 1) of W^(k) as maths."""
    return lambda t: symbol_tex(
        names.weight_entry(k, (t - 1) // fan_in + 1, (t - 1) % fan_in + 1)
    )


def _layer_symbols(d: Derivation, k: int) -> list[SymbolRow]:
    """W, b, z and h of one layer, for one sample."""
    rule = d.layers[k - 1]
    n = rule.units
    src = "input" if k == 1 else f"unit $j$ of layer {k - 1}"
    column = f"${shape_tex((rule.units, 1))}$"
    rows = [
        SymbolRow(
            f"$W^{{({k})}}$: {_entries(n * rule.fan_in, _weight_entry(k, rule.fan_in))}",
            code_tex(names.weight(k)),
            f"weights of layer {k}; ${symbol_tex(general('W', k, 'i', 'j'))}$ multiplies {src}"
            + (" $j$" if k == 1 else "")
            + " in unit $i$",
            f"${shape_tex((rule.units, rule.fan_in))}$",
        ),
        SymbolRow(
            f"$b^{{({k})}}$: {_entries(n, lambda i: symbol_tex(names.bias_entry(k, i)))}",
            code_tex(names.bias(k)),
            f"biases of layer {k}, one per unit; the trainer stores them as shape ({rule.units},)",
            column,
        ),
        SymbolRow(
            f"$z^{{({k})}}$: {_entries(n, lambda i: symbol_tex(names.z_entry(k, i)))}",
            code_tex(f"{names.pre_activation(k)}[n]"),
            f"pre-activations of layer {k} for one sample",
            column,
        ),
    ]
    out = k == len(d.layers)
    if out and has_link(d):
        return rows  # the logits are z^(L); the prediction row follows
    what = "the network's output, " if out else f"activations of layer {k}, "
    rows.append(
        SymbolRow(
            f"${vec_h(d, k)}$: {_entries(n, lambda i: h_tex(d, k, i))}",
            code_tex(f"{names.activation(k, len(d.layers))}[n]"),
            what + f"${act_tex(rule)}(z^{{({k})}})$",
            column,
        )
    )
    return rows


def _batch_outputs(link: bool, shape: str) -> list[SymbolRow]:
    """One row each for the batch's targets and outputs; the only place saying that the
    trainer's y is the targets Y and its Y the outputs (with a link: the logits)."""
    rows = [
        SymbolRow(
            "$Y$",
            code_tex(names.TARGETS),
            "the batch's targets",
            shape,
        )
    ]
    if link:
        return rows + [
            SymbolRow(
                r"$\hat{Y}$",
                code_tex(names.PREDICTION),
                "the batch's predictions",
                shape,
            ),
            SymbolRow(
                r"$\tilde{Y}$",
                code_tex(names.OUTPUTS),
                TEX.text(
                    "the batch's logits: the trainer's ",
                    Code(names.OUTPUTS),
                    " holds the logits, not the predictions",
                ),
                shape,
            ),
        ]
    return rows + [
        SymbolRow(
            r"$\hat{Y}$",
            code_tex(names.OUTPUTS),
            TEX.text(
                "the batch's outputs: the trainer's ",
                Code(names.OUTPUTS),
                " is ",
                Math(r"\hat{Y}"),
                ", its ",
                Code(names.TARGETS),
                " the targets ",
                Math("Y"),
            ),
            shape,
        )
    ]


def symbols(d: Derivation) -> tuple[SymbolRow, ...]:
    """The notation table: per-sample symbols, then the batch arrays the trainer holds."""
    spec = d.spec
    n_in, n_out, depth = spec.layers[0], spec.layers[-1], len(d.layers)
    link = has_link(d)
    scalar = f"${shape_tex(())}$"
    rows = [
        SymbolRow(
            "$x$: " + _entries(n_in, lambda j: symbol_tex(names.input_entry(j))),
            code_tex(f"{names.INPUTS}[n]"),
            "one input sample (row $n$ of $X$)",
            f"${shape_tex((n_in, 1))}$",
        ),
        SymbolRow(
            "$y$: " + _entries(n_out, lambda k: symbol_tex(names.target_entry(k))),
            code_tex(f"{names.TARGETS}[n]"),
            "its target",
            f"${shape_tex((n_out, 1))}$",
        ),
    ]
    for rule in d.layers:
        rows += _layer_symbols(d, rule.index)
    if link:
        kind = escape_tex(str(registry.loss(spec.loss).link))
        rows.append(
            SymbolRow(
                r"$\hat{y}$",
                code_tex(f"{names.PREDICTION}[n]"),
                f"the prediction: {kind} of the logits $z^{{({depth})}}$, applied by the loss",
                f"${shape_tex((n_out, 1))}$",
            )
        )
    for rule in d.layers:
        k = rule.index
        rows.append(
            SymbolRow(
                rf"$\delta^{{({k})}}$: "
                + _entries(
                    rule.units, lambda i, k=k: symbol_tex(general("delta", k, i))
                ),
                code_tex(f"{names.delta(k)}[n]"),
                rf"error signal of layer {k}: "
                rf"$\delta^{{({k})}}_i = \partial L / \partial z^{{({k})}}_i$",
                f"${shape_tex((rule.units, 1))}$",
            )
        )
    reduction = "summed" if spec.reduction == "sum" else "averaged"
    rows += [
        SymbolRow("$L$", "", "the loss of one sample", scalar),
        SymbolRow(
            r"$\mathcal{L}$",
            code_tex("loss(params, X, y)"),
            f"the loss of the batch: $L$ {reduction} over its samples",
            scalar,
        ),
        SymbolRow("$N$", code_tex("X.shape[0]"), "number of samples in the batch", ""),
        SymbolRow(
            "$X$",
            code_tex(names.INPUTS),
            "the batch's inputs; row $n$ is sample $n$",
            f"${shape_tex(('N', n_in))}$",
        ),
        *_batch_outputs(link, f"${shape_tex(('N', n_out))}$"),
    ]
    for rule in d.layers:
        k = rule.index
        last = k == depth
        arrays = [names.pre_activation(k), names.delta(k)]
        if not last:
            arrays.insert(1, names.activation(k, depth))
        rows.append(
            SymbolRow(
                rf"$Z^{{({k})}},\ \Delta^{{({k})}}$"
                if last
                else rf"$Z^{{({k})}},\ H^{{({k})}},\ \Delta^{{({k})}}$",
                code_tex(", ".join(arrays)),
                f"layer {k} for the whole batch: row $n$ holds sample $n$'s "
                rf"$z^{{({k})}}$"
                + ("" if last else rf", $h^{{({k})}}$")
                + rf", $\delta^{{({k})}}$",
                f"${shape_tex(('N', rule.units))}$",
            )
        )
    rows += [
        SymbolRow(
            r"$\mathbf{1}_N$",
            "",
            "a column of $N$ ones (it sums over samples)",
            "$N \\times 1$",
        ),
        SymbolRow(
            r"$\mathbf{1}[\cdot]$",
            code_tex(formulas.step_code()),
            "1 where true, else 0",
            "",
        ),
        SymbolRow(r"$\odot$", code_tex("*"), "entrywise product", ""),
    ]
    return tuple(rows)


# --------------------------------------------------------------------------- the document


def document(
    d: Derivation,
    trainer: types.ModuleType,
    *,
    header: Sequence[str],
    findings: tuple[Finding, ...] | None = None,
    layout: str = "rows",
) -> DerivationDocument:
    """Everything the LaTeX template shows, printed from the derivation and the trainer.

    `findings` is the checker's verdict on the seed notebook (for the seed network only);
    without it the section compares the printed numbers. `layout` is the matrix equations'.
    """
    spec = d.spec
    return DerivationDocument(
        header=tuple(header),
        creator=f"Generated by symbackprop {__version__}",
        # a PDF string: ASCII only, so the mark stays readable in the file's bytes
        creator_pdf=f"(Generated by symbackprop {__version__})",
        title=escape_tex(spec.title),
        summary=summary(spec, TEX),
        layers_text="-".join(map(str, spec.layers)),
        drawing=drawing(d),
        symbols=symbols(d),
        maths=maths(d, TEX),
        example=example_section(d, trainer),
        notebook=notebook_check(spec, trainer, findings),
        sheet=matrix_sheet(d, layout, TEX),
        notes=tuple(escape_tex(n) for n in d.notes),
        unicode=unicode_document(spec),
        fallback_fonts=", ".join(f'"{f}:mode=harf;"' for f in pdf.CJK_FONTS),
    )


def unicode_document(spec: NetworkSpec) -> bool:
    """Whether the spec's document needs LuaLaTeX (its title or name is beyond Latin-1)."""
    return needs_unicode_tex(spec.title, spec.name)
