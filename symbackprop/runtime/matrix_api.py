"""The matrix style's public gradient API over its in-place `_step`: fresh arrays out."""

from __future__ import annotations

import numpy as np

from ._trainer import PARAM_NAMES, _step


def loss_and_gradients(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and d loss / d every parameter (fresh arrays, same keys and shapes as params)."""
    value, grads = _step(params, X, y)
    return value, {name: g.copy() for name, g in zip(PARAM_NAMES, grads, strict=True)}


def gradients(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    """d loss / d every parameter, with the same keys and shapes as `params`."""
    return loss_and_gradients(params, X, y)[1]
