"""The scalar style's SGD: sgd_step and train, on plain floats, written back in place."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._trainer import EPOCHS, LR, _step
from .scalar_params import _assign, _flat, _unflat


def sgd_step(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR
) -> float:
    """One full-batch SGD step, in place; returns the loss before the step."""
    p = _flat(params)
    value, g = _step(p, X.tolist(), y.tolist())
    _assign(params, [a - lr * b for a, b in zip(p, g, strict=True)])
    return value


def train(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    lr: float = LR,
    epochs: int = EPOCHS,
    log: Callable[[int, float, dict[str, np.ndarray]], None] | None = None,
) -> list[float]:
    """`epochs` SGD steps in plain floats; writes the result back into params at the end."""
    p = _flat(params)
    xs, ys = np.asarray(X).tolist(), np.asarray(y).tolist()
    history = []
    for epoch in range(1, epochs + 1):
        value, g = _step(p, xs, ys)
        history.append(value)
        if log is not None:
            log(epoch, value, _unflat(g))
        p = [a - lr * b for a, b in zip(p, g, strict=True)]
    _assign(params, p)
    return history
