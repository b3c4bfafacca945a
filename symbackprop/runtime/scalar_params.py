"""The scalar style's parameters as one flat list of floats, and back into the arrays."""

from __future__ import annotations

import numpy as np

from ._trainer import PARAM_NAMES, SHAPES


def _flat(params: dict[str, np.ndarray]) -> list[float]:
    """Every parameter entry as a float, in PARAM_NAMES order (rows first)."""
    values = []
    for name in PARAM_NAMES:
        values += params[name].ravel().tolist()
    return values


def _assign(params: dict[str, np.ndarray], values: list[float]) -> None:
    """Write flat values back into the parameter arrays, in place."""
    start = 0
    for name in PARAM_NAMES:
        target = params[name]
        size = target.size
        if target.flags.c_contiguous:
            target.ravel()[:] = values[start : start + size]  # ravel() is a view here
        else:
            target.flat = values[start : start + size]  # rows first, any memory layout
        start += size


def _unflat(values: list[float]) -> dict[str, np.ndarray]:
    """The inverse of _flat: arrays with the parameters' shapes."""
    out = {}
    start = 0
    for name in PARAM_NAMES:
        size = int(np.prod(SHAPES[name]))
        out[name] = np.array(values[start : start + size]).reshape(SHAPES[name])
        start += size
    return out
