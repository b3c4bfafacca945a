"""The typed tree of one matrix equation's right-hand side; the parser makes it, nothing evals it.

Every node carries its span in the (normalized) text, so messages quote the student's own words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Span = tuple[int, int]


@dataclass(frozen=True)
class Name:
    """A name of the network (W2, dZ1, A1, x, m) or of an earlier line."""

    text: str
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Num:
    """A number literal."""

    value: float
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Binary:
    """left op right: '+', '-', '/', 'mul' (entrywise), 'matmul' (a matrix product, or a
    scalar times an array), '**' (an entrywise power)."""

    op: str
    left: Node
    right: Node
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Neg:
    """-arg."""

    arg: Node
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Transpose:
    """arg transposed (A.T, A^T, np.transpose(A), W^{[2]T})."""

    arg: Node
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Sum:
    """A sum: over `axis` (0 or 1) as NumPy does, or over the samples (axis None); keepdims as
    NumPy's; `mean` divides by the count summed over."""

    arg: Node
    axis: int | None
    keepdims: bool
    mean: bool = False
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Call:
    """An entrywise function: an activation (relu, g: the layer's own), its derivative
    (prime), a maths function (exp, log, sqrt, abs, maximum) or a link (softmax)."""

    func: str
    args: tuple[Node, ...]
    prime: bool = False
    layer: int = 0  # g1'(Z1): the layer named; 0 when the argument says it
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Compare:
    """1 where left op right holds, else 0 (Z1 > 0, 1[Z1 > 0])."""

    op: str
    left: Node
    right: Node
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Where:
    """np.where(condition, a, b)."""

    cond: Node
    a: Node
    b: Node
    span: Span = field(default=(0, 0), compare=False)


Node = Name | Num | Binary | Neg | Transpose | Sum | Call | Compare | Where


def children(node: Node) -> tuple[Node, ...]:
    """The operands of a node."""
    if isinstance(node, Binary | Compare):
        return (node.left, node.right)
    if isinstance(node, Neg | Transpose | Sum):
        return (node.arg,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Where):
        return (node.cond, node.a, node.b)
    return ()


def names_in(node: Node) -> list[str]:
    """Every name a tree refers to, in order."""
    if isinstance(node, Name):
        return [node.text]
    return [n for child in children(node) for n in names_in(child)]
