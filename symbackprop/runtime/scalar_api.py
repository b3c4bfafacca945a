"""The scalar style's public gradient API over its unrolled `_step` on plain floats."""

from __future__ import annotations

import numpy as np

from ._trainer import _step
from .scalar_params import _flat, _unflat


def loss_and_gradients(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and d loss / d every parameter (same keys and shapes as params)."""
    value, g = _step(_flat(params), np.asarray(X).tolist(), np.asarray(y).tolist())
    return value, _unflat(g)


def gradients(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    """d loss / d every parameter, with the same keys and shapes as `params`."""
    return loss_and_gradients(params, X, y)[1]
