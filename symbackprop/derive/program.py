"""The network's forward pass, loss and vectorized backward pass as one typed program.

Built once per derivation from SymPy's entrywise rules, it is the single source of the
backprop recursion: the printers turn it into NumPy, LaTeX and plain text; `evaluate.py`
runs it on NumPy arrays (the checker's truth) or on SymPy matrices (the proof, the readable
forms). A step names one batch array; nodes are matrix operations on earlier steps.

Layout "rows" holds one sample per row (X is (N, inputs), the seed's and CS231n's form);
"columns" one sample per column (X is (inputs, m), deeplearning.ai's form).

A node's `rule` is a SymPy expression; in a Program read back from data (program_data.py, the
checker's shipped reference) it is that expression's tree (numeric.py), which only the NumPy
backend runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._lazy import sympy as sp
from ..spec import names, registry

if TYPE_CHECKING:
    from .rules import LayerRule

LAYOUTS = ("rows", "columns")


@dataclass(frozen=True)
class Ref:
    """An array by name: an input (X, y), a parameter (W1, b1) or an earlier step."""

    name: str


@dataclass(frozen=True)
class MatMul:
    """The matrix product left @ right."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Transpose:
    """arg transposed."""

    arg: Node


@dataclass(frozen=True)
class Hadamard:
    """The entrywise product left * right (same shapes)."""

    left: Node
    right: Node


@dataclass(frozen=True)
class AddBias:
    """arg plus one bias per unit, broadcast over the samples."""

    arg: Node
    bias: Node


@dataclass(frozen=True)
class SumSamples:
    """arg summed over the samples: one number per unit."""

    arg: Node


@dataclass(frozen=True)
class Activate:
    """A layer's activation applied entrywise."""

    activation: str
    rule: sp.Expr  # act(z), in the placeholder Z
    arg: Node


@dataclass(frozen=True)
class Derivative:
    """act'(Z) entrywise, as SymPy derived it in z and/or the stored h = act(z)."""

    activation: str
    rule: sp.Expr  # in the placeholders Z and H
    z: Node
    h: Node


@dataclass(frozen=True)
class OutputError:
    """d (sample loss) / d z of the output layer, entrywise, as SymPy derived it."""

    rule: sp.Expr  # in the placeholders Z, YHAT and T
    z: Node
    prediction: Node
    target: Node


@dataclass(frozen=True)
class Link:
    """An activation over each sample's units together (softmax): a logit loss's link giving
    the predicted probabilities, or a softmax output layer; `kind` names the activation."""

    kind: str
    arg: Node


@dataclass(frozen=True)
class Mean:
    """arg divided by the batch size (reduction "mean")."""

    arg: Node


@dataclass(frozen=True)
class Loss:
    """The batch loss: one sample's loss (the registry's) summed over the samples."""

    loss: str
    outputs: Node  # the network's outputs (the logits for a loss with a link)
    targets: Node
    count: int  # outputs per sample


@dataclass(frozen=True)
class Penalty:
    """The batch loss plus a penalty: `rule` (in the placeholder W) summed over every entry
    of every weight matrix."""

    arg: Node
    rule: sp.Expr
    weights: tuple[Node, ...]


@dataclass(frozen=True)
class PenaltyGrad:
    """A weight's gradient plus the penalty's derivative `rule` (in W), entrywise."""

    arg: Node
    rule: sp.Expr
    weight: Node


Node = (
    Ref
    | MatMul
    | Transpose
    | Hadamard
    | AddBias
    | SumSamples
    | Activate
    | Derivative
    | OutputError
    | Link
    | Mean
    | Loss
    | Penalty
    | PenaltyGrad
)

# what a step is, for printers that describe it
PRE_ACTIVATION, ACTIVATION, PREDICTION = "pre_activation", "activation", "prediction"
LOSS = "loss"
DELTA, GRAD_W, GRAD_B = "delta", "grad_W", "grad_b"


@dataclass(frozen=True)
class Step:
    """`name = expr`: one named array of the program, its shape and what it is."""

    name: str
    expr: Node
    # "N" (rows) or "m" (columns) stands for the batch size; () for the loss, a number
    shape: tuple[int | str, ...]
    role: str
    layer: int


@dataclass(frozen=True)
class Program:
    """Forward steps (Z1, H1, ..., Y[, P]), the loss, then backward steps (dZ_L, gW_L, gb_L,
    dZ_L-1, ...)."""

    layout: str
    depth: int
    reduction: str
    forward: tuple[Step, ...]
    loss: Step
    backward: tuple[Step, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step, in the order they are computed."""
        return (*self.forward, self.loss, *self.backward)

    @property
    def grads(self) -> dict[str, str]:
        """parameter -> the step holding its gradient (W1 -> gW1), in the backward order."""
        return {s.name[1:]: s.name for s in self.backward if s.role in (GRAD_W, GRAD_B)}

    def step(self, name: str) -> Step:
        """The step that defines `name`."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def prediction(self) -> str:
        """The array the loss compares with the targets: Y, or P for a loss with a link."""
        return self.forward[-1].name


def _batch(layout: str) -> str:
    return "N" if layout == "rows" else "m"


def _shape(layout: str, units: int) -> tuple[int | str, ...]:
    return (_batch(layout), units) if layout == "rows" else (units, _batch(layout))


def build_program(
    rules: tuple[LayerRule, ...],
    output_delta: sp.Expr,
    loss: str,
    reduction: str,
    layout: str = "rows",
    unmasked: frozenset[int] = frozenset(),
    penalty: tuple[sp.Expr, sp.Expr] | None = None,
) -> Program:
    """The program for a network's per-layer rules.

    `unmasked` names hidden layers whose act'(Z) is left out of the recursion: a mistake model
    the checkers compare with, never the truth. `penalty`: the L2 rules (rules.penalty_rules),
    the loss gaining the first summed over every weight, each weight's gradient the second.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {LAYOUTS}")
    rows = layout == "rows"
    depth = len(rules)
    link = registry.loss(loss).link
    forward: list[Step] = []
    a: Node = Ref(names.INPUTS)
    for rule in rules:
        k = rule.index
        W, b = Ref(names.weight(k)), Ref(names.bias(k))
        product = MatMul(a, Transpose(W)) if rows else MatMul(W, a)
        z = names.pre_activation(k)
        h = names.activation(k, depth)
        shape = _shape(layout, rule.units)
        forward.append(Step(z, AddBias(product, b), shape, PRE_ACTIVATION, k))
        act: Node = (
            Link(rule.activation, Ref(z))
            if rule.vector
            else Activate(rule.activation, rule.forward, Ref(z))
        )
        forward.append(Step(h, act, shape, ACTIVATION, k))
        a = Ref(h)
    prediction = names.OUTPUTS
    if link is not None:
        prediction = names.PREDICTION
        out_shape = _shape(layout, rules[-1].units)
        forward.append(
            Step(
                prediction, Link(link, Ref(names.OUTPUTS)), out_shape, PREDICTION, depth
            )
        )
    value: Node = Loss(loss, Ref(names.OUTPUTS), Ref(names.TARGETS), rules[-1].units)
    if reduction == "mean":
        value = Mean(value)
    if penalty is not None:
        weights = tuple(Ref(names.weight(r.index)) for r in rules)
        value = Penalty(value, penalty[0], weights)
    total = Step("loss", value, (), LOSS, depth)
    backward: list[Step] = []
    error: Node = OutputError(
        output_delta,
        Ref(names.pre_activation(depth)),
        Ref(prediction),
        Ref(names.TARGETS),
    )
    if reduction == "mean":
        error = Mean(error)
    backward.append(
        Step(names.delta(depth), error, _shape(layout, rules[-1].units), DELTA, depth)
    )
    for rule in reversed(rules):
        k = rule.index
        dz = Ref(names.delta(k))
        below = Ref(names.INPUTS) if k == 1 else Ref(names.activation(k - 1, depth))
        gw: Node = (
            MatMul(Transpose(dz), below) if rows else MatMul(dz, Transpose(below))
        )
        if penalty is not None:
            gw = PenaltyGrad(gw, penalty[1], Ref(names.weight(k)))
        for param, expr, shape, role in (
            (names.weight(k), gw, (rule.units, rule.fan_in), GRAD_W),
            (names.bias(k), SumSamples(dz), (rule.units,), GRAD_B),
        ):
            backward.append(Step(names.grad(param), expr, shape, role, k))
        if k > 1:
            lower = rules[k - 2]
            W = Ref(names.weight(k))
            back: Node = MatMul(dz, W) if rows else MatMul(Transpose(W), dz)
            if lower.derivative != 1 and lower.index not in unmasked:
                local = Derivative(
                    lower.activation,
                    lower.derivative,
                    Ref(names.pre_activation(k - 1)),
                    Ref(names.activation(k - 1, depth)),
                )
                back = Hadamard(back, local)
            backward.append(
                Step(
                    names.delta(k - 1), back, _shape(layout, lower.units), DELTA, k - 1
                )
            )
    return Program(layout, depth, reduction, tuple(forward), total, tuple(backward))


def walk(node: Node) -> Iterator[Node]:
    """Every node below and including `node`, parents first."""
    yield node
    for child in children(node):
        yield from walk(child)


def children(node: Node) -> tuple[Node, ...]:
    """The operands of a node."""
    if isinstance(node, Ref):
        return ()
    if isinstance(node, MatMul | Hadamard):
        return (node.left, node.right)
    if isinstance(node, AddBias):
        return (node.arg, node.bias)
    if isinstance(node, Derivative):
        return (node.z, node.h)
    if isinstance(node, OutputError):
        return (node.z, node.prediction, node.target)
    if isinstance(node, Loss):
        return (node.outputs, node.targets)
    if isinstance(node, Penalty):
        return (node.arg, *node.weights)
    if isinstance(node, PenaltyGrad):
        return (node.arg, node.weight)
    return (node.arg,)
