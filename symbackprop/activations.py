"""Activation registry: one entry per activation, its SymPy expression and its NumPy forward.

Derivatives are never written here: SymPy differentiates the expression (see derive.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Activation:
    """An elementwise activation: `expr(z)` for SymPy, `numpy` a format string over `{z}`."""

    name: str
    expr: Callable[[sp.Expr], sp.Expr]
    numpy: str
    latex: str  # operator name used in documents, e.g. \operatorname{ReLU}


REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "relu", lambda z: sp.Max(z, 0), "np.maximum({z}, 0)", r"\operatorname{ReLU}"
        ),
        Activation("identity", lambda z: z, "{z}", r"\operatorname{id}"),
    )
}


def get(name: str) -> Activation:
    """Look up an activation by name (the spec has already validated it)."""
    return REGISTRY[name]
