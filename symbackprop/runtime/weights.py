"""Weights saved by the trainer's --save (an .npz), loaded back and checked against the network."""

from __future__ import annotations

import numpy as np

from ._trainer import PARAM_NAMES, init_params
from .data import DataError


def load_params(path: str) -> dict[str, np.ndarray]:
    """Weights saved by --save (an .npz with W1, b1, ...), checked against this network."""
    try:
        with np.load(path) as saved:
            params = {name: saved[name].astype(float) for name in saved.files}
    except (OSError, ValueError):
        raise DataError(
            f"{path}: cannot read it as weights saved by --save (an .npz file)"
        ) from None
    for name, value in init_params(0).items():
        if name not in params:
            raise DataError(
                f"{path}: has no {name}; it was not saved from this network"
            )
        if params[name].shape != value.shape:
            raise DataError(
                f"{path}: {name} has shape {params[name].shape}, expected {value.shape}"
            )
    return {name: params[name] for name in PARAM_NAMES}
