"""Loss registry: the per-sample loss as a SymPy expression, and its batch NumPy forward.

The output error dL/dz comes from SymPy (derive.py), never from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Loss:
    """`expr(yhat, y)` is one sample's loss; `numpy` sums it over a batch (format over {Y}, {T})."""

    name: str
    expr: Callable[[Sequence[sp.Expr], Sequence[sp.Expr]], sp.Expr]
    numpy: str
    description: str


def _half_sse(yhat: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    return sp.Add(*[(a - b) ** 2 for a, b in zip(yhat, y, strict=True)]) / 2


REGISTRY: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "half_sse",
            _half_sse,
            "0.5 * np.sum(({Y} - {T}) ** 2)",
            "half the squared error, summed over the outputs",
        ),
    )
}

REDUCTIONS = ("sum", "mean")


def get(name: str) -> Loss:
    """Look up a loss by name (the spec has already validated it)."""
    return REGISTRY[name]
