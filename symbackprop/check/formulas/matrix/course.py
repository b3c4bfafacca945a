"""The derivation's backward pass as the course's matrix equations: dZ, dW, db per layer, from
the output layer down, as trees over the course's names (printed by printer.show).

One source for the correct equations: check-formulas' fixes and the documents' section "The
backward pass as matrix equations" both come from here. Layout columns is deeplearning.ai's
form (A1, dZ2 = A2 - Y, dW2 = 1/m dZ2 A1^T); rows the seed's and CS231n's (H1, Yhat, 1/N).
"""

from __future__ import annotations

from dataclasses import dataclass

from ....derive import program as P
from ....derive.rules import W
from ....spec import names
from . import ast as A
from .printer import program_tree, rule_tree, transpose


@dataclass(frozen=True)
class CourseEquation:
    """`name = tree`: one equation of the backward pass and what it defines, (dW, 2)."""

    name: str
    key: tuple[str, int]
    tree: A.Node


def batch_name(layout: str) -> str:
    """The batch size's name: m with samples as columns, N with samples as rows."""
    return "m" if layout == "columns" else "N"


def course_names(prog: P.Program) -> dict[str, str]:
    """Program name -> the course's: A1 and A2 for the columns layout, H1 and Yhat for rows."""
    depth = prog.depth
    cols = prog.layout == "columns"
    rename = {
        names.activation(k, depth): names.course_activation(k) if cols else f"H{k}"
        for k in range(1, depth)
    }
    rename[prog.prediction] = names.course_activation(depth) if cols else "Yhat"
    rename[names.TARGETS] = "Y"
    return rename


def course_tree(
    prog: P.Program, kind: str, layer: int, mean: bool, inputs_first: bool = False
) -> A.Node | None:
    """The tree of dZ, dA, dW or db of a layer (a mean's 1/m on the gradients); None for the
    output layer's dA."""
    rename = course_names(prog)
    if kind in ("dW", "db"):
        step = prog.step(names.grad(("W" if kind == "dW" else "b") + str(layer)))
        # an L2 penalty's term is the batch's, outside the mean's 1/m: dW = 1/m ... + 0.1 W
        penalty = step.expr if isinstance(step.expr, P.PenaltyGrad) else None
        data = penalty.arg if penalty is not None else step.expr
        tree = program_tree(prog, data, rename, inputs_first)
        if inputs_first and kind == "dW":
            tree = transpose(tree)
        if mean:
            m = A.Name(batch_name(prog.layout))
            tree = A.Binary("matmul", A.Binary("/", A.Num(1.0), m), tree)
        if penalty is not None:  # in the course's own W, whichever way it stores it
            weight = A.Name(rename.get(penalty.weight.name, penalty.weight.name))
            tree = A.Binary("+", tree, rule_tree(penalty.rule, {W: weight}))
        return tree
    if kind == "dZ":
        return program_tree(
            prog, prog.step(names.delta(layer)).expr, rename, inputs_first
        )
    if kind == "dA" and layer < prog.depth:
        expr = prog.step(names.delta(layer)).expr
        back = expr.left if isinstance(expr, P.Hadamard) else expr
        return program_tree(prog, back, rename, inputs_first)
    return None


def course_equations(
    prog: P.Program, reduction: str, inputs_first: bool = False
) -> tuple[CourseEquation, ...]:
    """dZ, dW, db of every layer, the output layer first, as check-formulas accepts them."""
    mean = reduction == "mean"
    out = []
    for k in range(prog.depth, 0, -1):
        for kind, name in (
            ("dZ", names.delta(k)),
            ("dW", names.course_grad(names.weight(k))),
            ("db", names.course_grad(names.bias(k))),
        ):
            tree = course_tree(prog, kind, k, mean, inputs_first)
            assert tree is not None
            out.append(CourseEquation(name, (kind, k), tree))
    return tuple(out)
