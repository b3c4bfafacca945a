"""Loss registry: one sample's loss as a SymPy expression, and its batch NumPy forward.

The output error d loss / d z comes from SymPy (derive.py), never from here. Losses "with
logits" take the output layer's raw values z and apply their link (sigmoid or softmax) inside,
so SymPy can reach the simplified error p - y and NumPy can use a stable log-sum-exp form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._lazy import sympy as sp


@dataclass(frozen=True)
class Loss:
    """`expr(outputs, y)` is one sample's loss; `numpy` sums it over a batch.

    `numpy` is a format over {Y} (the network's outputs, (N, K)), {T} (targets) and {K}.
    With a `link`, outputs are logits and the prediction is p = link(z); `link_numpy` computes
    p stably (format over {Z}) and `link_expr` is its SymPy definition.
    """

    name: str
    expr: Callable[[Sequence[sp.Expr], Sequence[sp.Expr]], sp.Expr]
    numpy: str
    description: str
    link: str | None = (
        None  # None, "sigmoid" (entrywise) or "softmax" (over the outputs)
    )
    link_expr: Callable[[Sequence[sp.Expr]], list[sp.Expr]] | None = None
    link_numpy: str = ""
    targets: str = "real"  # "real", "binary" (0/1) or "one_hot" (rows sum to 1)


def _half_sse(yhat: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    return sp.Add(*[(a - b) ** 2 for a, b in zip(yhat, y, strict=True)]) / 2


def _mse(yhat: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    return sp.Add(*[(a - b) ** 2 for a, b in zip(yhat, y, strict=True)]) / len(yhat)


def _sigmoid(z: Sequence[sp.Expr]) -> list[sp.Expr]:
    return [1 / (1 + sp.exp(-zk)) for zk in z]


def _bce(z: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    p = _sigmoid(z)
    return -sp.Add(
        *[t * sp.log(q) + (1 - t) * sp.log(1 - q) for q, t in zip(p, y, strict=True)]
    )


def _softmax(z: Sequence[sp.Expr]) -> list[sp.Expr]:
    total = sp.Add(*[sp.exp(zk) for zk in z])
    return [sp.exp(zk) / total for zk in z]


def _cross_entropy(z: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    return -sp.Add(*[t * sp.log(q) for q, t in zip(_softmax(z), y, strict=True)])


REGISTRY: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "half_sse",
            _half_sse,
            "0.5 * np.sum(({Y} - {T}) ** 2)",
            "half the squared error, summed over the outputs",
        ),
        Loss(
            "mse",
            _mse,
            "np.sum(({Y} - {T}) ** 2) / {K}",
            "the squared error, averaged over the outputs",
        ),
        Loss(
            "bce_with_logits",
            _bce,
            "np.sum(np.logaddexp(0, {Y}) - {T} * {Y})",
            "binary cross-entropy of sigmoid(z), from the logits z",
            link="sigmoid",
            link_expr=_sigmoid,
            link_numpy="np.exp(-np.logaddexp(0, -{Z}))",
            targets="binary",
        ),
        Loss(
            "softmax_cross_entropy",
            _cross_entropy,
            "np.sum(np.logaddexp.reduce({Y}, axis=1) - np.sum({T} * {Y}, axis=1))",
            "cross-entropy of softmax(z), from the logits z; one-hot targets",
            link="softmax",
            link_expr=_softmax,
            link_numpy="np.exp({Z} - np.logaddexp.reduce({Z}, axis=1, keepdims=True))",
            targets="one_hot",
        ),
    )
}

REDUCTIONS = ("sum", "mean")


def get(name: str) -> Loss:
    """Look up a loss by name (the spec has already validated it)."""
    return REGISTRY[name]
