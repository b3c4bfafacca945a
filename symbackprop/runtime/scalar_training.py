"""The scalar style's training: sgd_step and train on plain floats, step on the arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._trainer import EPOCHS, LR, PARAM_NAMES, UPDATES, _step, init_state
from .scalar_params import _assign, _flat, _unflat


def sgd_step(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR
) -> float:
    """One full-batch SGD step, in place; returns the loss before the step."""
    p = _flat(params)
    value, g = _step(p, X.tolist(), y.tolist())
    _assign(params, [a - lr * b for a, b in zip(p, g, strict=True)])
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
    value, g = _step(_flat(params), np.asarray(X).tolist(), np.asarray(y).tolist())
    grads = _unflat(g)
    UPDATES[state["optimizer"]](
        params, state, tuple(grads[name] for name in PARAM_NAMES), lr
    )
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
    """`epochs` steps of the optimizer (the spec's, or the state's); SGD runs in plain floats
    and writes the result back into params at the end, the others update the arrays."""
    state = init_state(params) if state is None else state
    xs, ys = np.asarray(X).tolist(), np.asarray(y).tolist()
    history = []
    if state["optimizer"] != "sgd":
        update = UPDATES[state["optimizer"]]
        for epoch in range(1, epochs + 1):
            value, g = _step(_flat(params), xs, ys)
            grads = _unflat(g)
            history.append(value)
            if log is not None:
                log(epoch, value, grads)
            update(params, state, tuple(grads[name] for name in PARAM_NAMES), lr)
        return history
    p = _flat(params)
    for epoch in range(1, epochs + 1):
        value, g = _step(p, xs, ys)
        history.append(value)
        if log is not None:  # which may look at params: they hold this epoch's weights
            _assign(params, p)
            log(epoch, value, _unflat(g))
        p = [a - lr * b for a, b in zip(p, g, strict=True)]
    _assign(params, p)
    return history
