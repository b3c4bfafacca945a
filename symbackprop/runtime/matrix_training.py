"""The matrix style's training: sgd_step, step and train, updating the parameters in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._trainer import EPOCHS, LR, PARAM_NAMES, UPDATES, _step, _update_sgd, init_state


def sgd_step(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR
) -> float:
    """One full-batch SGD step, in place; returns the loss before the step."""
    value, grads = _step(params, X, y)
    _update_sgd(params, {}, grads, lr)
    return value


def step(
    params: dict[str, np.ndarray],
    state: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    lr: float = LR,
) -> float:
    """One full-batch step of the state's optimizer (params and state in place); returns the
    loss before the step. Make the state with init_state(params)."""
    value, grads = _step(params, X, y)
    UPDATES[state["optimizer"]](params, state, grads, lr)
    return value


def train(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    lr: float = LR,
    epochs: int = EPOCHS,
    log: Callable[[int, float, dict[str, np.ndarray]], None] | None = None,
    state: dict[str, Any] | None = None,
) -> list[float]:
    """`epochs` steps of the optimizer (the spec's, or the state's); returns each step's loss,
    calling log(epoch, loss, grads) before each update."""
    state = init_state(params) if state is None else state
    update = UPDATES[state["optimizer"]]
    history = []
    for epoch in range(1, epochs + 1):
        value, grads = _step(params, X, y)
        history.append(value)
        if log is not None:
            log(epoch, value, dict(zip(PARAM_NAMES, grads, strict=True)))
        update(params, state, grads, lr)
    return history
