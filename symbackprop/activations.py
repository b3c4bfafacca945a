"""Activation registry: one entry per activation, its SymPy expression and its NumPy forward.

Derivatives are never written here: SymPy differentiates the expression (see derive.py), and
derive.py rewrites the derivative in terms of the stored forward value h where SymPy can.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._lazy import sympy as sp


@dataclass(frozen=True)
class Activation:
    """An entrywise activation: `expr(z, alpha)` for SymPy, `numpy` a format over {z}, {alpha}.

    `alpha` is the spec's leaky-ReLU slope; activations without a parameter ignore it. The NumPy
    forward is written for numerical safety (no overflow for |z| ~ 800).
    """

    name: str
    expr: Callable[[sp.Expr, sp.Expr], sp.Expr]
    numpy: str
    latex: str  # operator name used in documents
    numpy_out: str = ""  # the same forward writing into a buffer {out}, where NumPy can


REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "relu",
            lambda z, _: sp.Max(z, 0),
            "np.maximum({z}, 0)",
            r"\operatorname{ReLU}",
            "np.maximum({z}, 0, out={out})",
        ),
        Activation(
            "leaky_relu",
            # alpha z + (1 - alpha) relu(z): z for z > 0, alpha z otherwise. Written with Max, not
            # Piecewise, so deep networks' closed forms stay small (as with relu).
            lambda z, alpha: alpha * z + (1 - alpha) * sp.Max(z, 0),
            "np.where({z} > 0, {z}, {alpha} * {z})",
            r"\operatorname{LeakyReLU}",
        ),
        Activation(
            "sigmoid",
            lambda z, _: 1 / (1 + sp.exp(-z)),
            "np.exp(-np.logaddexp(0, -{z}))",  # 1 / (1 + e^-z) without overflow
            r"\sigma",
        ),
        Activation(
            "tanh",
            lambda z, _: sp.tanh(z),
            "np.tanh({z})",
            r"\tanh",
            "np.tanh({z}, out={out})",
        ),
        Activation(
            "softplus",
            lambda z, _: sp.log(1 + sp.exp(z)),
            "np.logaddexp(0, {z})",  # log(1 + e^z) without overflow
            r"\operatorname{softplus}",
            "np.logaddexp(0, {z}, out={out})",
        ),
        Activation("identity", lambda z, _: z, "{z}", r"\operatorname{id}"),
    )
}


def get(name: str) -> Activation:
    """Look up an activation by name (the spec has already validated it)."""
    return REGISTRY[name]
