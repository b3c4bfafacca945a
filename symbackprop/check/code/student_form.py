"""The derivation's Program in one student's array layout and names: the correct lines the
report shows, and the formulas the messages quote.

The Program holds W as (units, inputs), biases and their gradients as vectors (h,), targets as
(N, k). `in_student_layout` rewrites its steps so that they read the student's arrays and
produce gradients in the student's layout (a transposed W is read as W.T and its gradient is
the transposed product, X.T @ dZ1; a column bias b1 is added as b1.T and its gradient is
reshaped to (h, 1)); `StudentPrinter` prints them with the student's names.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import TYPE_CHECKING

from ...derive import program as P
from ...spec import names
from .layout import VECTOR, Layout
from .reshapes import AsColumn, AsRow, Ravel
from .result import Namer
from .truth import Truth

if TYPE_CHECKING:
    from .student_printer import StudentPrinter


def _transpose(node: P.Node) -> P.Node:
    """node.T, simplified: (A.T).T = A, (A @ B).T = B.T @ A.T, a row's transpose is a column."""
    if isinstance(node, P.Transpose):
        return node.arg
    if isinstance(node, AsRow):
        return AsColumn(node.arg)
    if isinstance(node, P.MatMul):
        return P.MatMul(_transpose(node.right), _transpose(node.left))
    return P.Transpose(node)


def _read(node: P.Node, layout: Layout) -> P.Node:
    """`node` with every parameter read from the student's layout, transposes simplified."""
    if isinstance(node, P.Ref):
        kind = layout.kinds.get(node.name, "")
        # a bias is added as a row when samples are rows, as a column when they are columns
        across = "row" if layout.samples == "columns" else "col"
        if kind in ("in_out", across):
            return P.Transpose(node)
        if kind == VECTOR:
            return AsRow(node)
        return node
    if isinstance(node, P.Transpose):
        return _transpose(_read(node.arg, layout))
    if isinstance(node, P.MatMul | P.Hadamard):
        return replace(
            node, left=_read(node.left, layout), right=_read(node.right, layout)
        )
    if isinstance(node, P.AddBias):
        return P.AddBias(_read(node.arg, layout), _read(node.bias, layout))
    return node  # entrywise nodes read steps (Z, H, Y, dZ), never a parameter


def _produce(step: P.Step, expr: P.Node, layout: Layout, depth: int) -> P.Node:
    """The step's value in the student's layout."""
    if step.role == P.GRAD_W:
        kind = layout.of(names.weight(step.layer))
        return {"in_out": _transpose(expr), VECTOR: Ravel(expr)}.get(kind, expr)
    if step.role == P.GRAD_B:
        kind = layout.of(names.bias(step.layer))
        return {"row": AsRow(expr), "col": AsColumn(expr)}.get(kind, expr)
    if layout.targets == "1d" and step.name == names.OUTPUTS:
        return Ravel(expr)  # (N,) like the student's targets
    if layout.targets == "1d" and step.role == P.DELTA and step.layer == depth:
        # the student's (N,) error as a column (a row when samples are columns)
        return AsRow(expr) if layout.samples == "columns" else AsColumn(expr)
    return expr


def in_student_layout(prog: P.Program, layout: Layout) -> tuple[P.Step, ...]:
    """Every step of `prog`, reading and producing arrays in the student's layout."""
    return tuple(
        replace(s, expr=_produce(s, _read(s.expr, layout), layout, prog.depth))
        for s in prog.steps
    )


def student_names(namer: Namer, depth: int) -> dict[str, str]:
    """Program array name -> the student's: X, y, Y, W1, b1, Z1, H1, ... and gW1, gb1, ..."""
    arrays = [names.INPUTS, names.TARGETS, names.OUTPUTS]
    for k in range(1, depth + 1):
        arrays += [names.weight(k), names.bias(k), names.pre_activation(k)]
        arrays.append(names.activation(k, depth))
    out = {a: namer.value(a) for a in arrays}
    for param in names.param_names(depth):
        out[names.grad(param)] = namer.grads.get(param) or names.grad(param)
    return out


class StudentForm:
    """The truth's Program in one student's layout and names."""

    def __init__(self, truth: Truth, layout: Layout, namer: Namer) -> None:
        self.layout = layout
        self.namer = namer
        self.truth = truth

    # what prints is made on first use: a correct answer needs no formula (nor SymPy)
    @functools.cached_property
    def prog(self) -> P.Program:
        """The truth's Program in the student's sample layout, with SymPy's rules."""
        return self.truth.derived_program(self.layout.samples)

    @functools.cached_property
    def steps(self) -> dict[str, P.Step]:
        """Each step, reading and producing the student's layout."""
        return {s.name: s for s in in_student_layout(self.prog, self.layout)}

    @functools.cached_property
    def printer(self) -> StudentPrinter:
        """The NumPy printer in the student's names and layout."""
        from .student_printer import StudentPrinter

        rename = student_names(self.namer, self.truth.depth)
        return StudentPrinter(
            self.truth.spec.alpha, rename, self.layout, self.truth.printed
        )

    def expr(self, node: P.Node) -> str:
        """A node of the Program (our layout) in the student's names."""
        return self.printer.expr(node)

    def gradient(self, param: str) -> str:
        """The correct gradient's right-hand side, in the student's layout and names."""
        return self.printer.expr(self.steps[self.prog.grads[param]].expr)

    def derivative(self, layer: int) -> str | None:
        """act'(Z_layer) as the backward pass multiplies by it; None for an identity layer."""
        expr = self.prog.step(names.delta(layer)).expr
        if isinstance(expr, P.Hadamard) and isinstance(expr.right, P.Derivative):
            return self.printer.expr(expr.right)
        return None

    def lines(self) -> dict[str, list[str]]:
        """ "forward" -> the forward pass; "W1", "b1", ... -> the lines ending in that gradient."""
        depth = self.prog.depth
        line = {name: self.printer.statement(s) for name, s in self.steps.items()}
        out = {"forward": [line[s.name] for s in self.prog.forward]}
        first = [line[names.delta(depth)]]
        if isinstance(self.prog.step(names.delta(depth)).expr, P.Mean):
            axis = 1 if self.layout.samples == "columns" else 0
            first.insert(
                0,
                f"{self.printer.batch} = "
                f"{self.printer.expr(P.Ref(names.INPUTS))}.shape[{axis}]",
            )
        for k in range(1, depth + 1):
            chain = first + [line[names.delta(j)] for j in range(depth - 1, k - 1, -1)]
            for param in (names.weight(k), names.bias(k)):
                out[param] = [*chain, line[self.prog.grads[param]]]
        return out
