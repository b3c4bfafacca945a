"""The matrix style's SGD: sgd_step and train, updating the parameters in place."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._trainer import EPOCHS, LR, PARAM_NAMES, _step


def _update(
    params: dict[str, np.ndarray], grads: tuple[np.ndarray, ...], lr: float
) -> None:
    """params -= lr * grads, in place (the gradient buffers are scaled on the way)."""
    for name, g in zip(PARAM_NAMES, grads, strict=True):
        np.multiply(g, lr, out=g)
        np.subtract(params[name], g, out=params[name])


def sgd_step(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR
) -> float:
    """One full-batch SGD step, in place; returns the loss before the step."""
    value, grads = _step(params, X, y)
    _update(params, grads, lr)
    return value


def train(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    lr: float = LR,
    epochs: int = EPOCHS,
    log: Callable[[int, float, dict[str, np.ndarray]], None] | None = None,
) -> list[float]:
    """`epochs` SGD steps; returns each step's loss, calling log(epoch, loss, grads)."""
    history = []
    for epoch in range(1, epochs + 1):
        value, grads = _step(params, X, y)
        history.append(value)
        if log is not None:
            log(epoch, value, dict(zip(PARAM_NAMES, grads, strict=True)))
        _update(params, grads, lr)
    return history
