"""The optimizer's state: init_state makes a fresh one for step() and train()."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._trainer import HYPER, OPTIMIZER, STATE


def init_state(
    params: dict[str, np.ndarray], optimizer: str = OPTIMIZER, **hyper: float
) -> dict[str, Any]:
    """A fresh optimizer state: the rule's name, the step count t, its hyperparameters (the
    spec's unless given) and its arrays, zero and shaped like each parameter."""
    state: dict[str, Any] = {"optimizer": optimizer, "t": 0, **HYPER, **hyper}
    for key in STATE[optimizer]:
        state[key] = {name: np.zeros_like(value) for name, value in params.items()}
    return state
