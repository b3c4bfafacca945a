"""Stand-ins for what a generated file defines before the runtime code, so each module imports.

Never included in a generated file: the trainer template defines the real constants and
functions (the spec's), and the notebook's earlier cells the data. The values are the seed
notebook's 2-2-1 network, only so that the names have the right types; a stand-in function
raises, and tests monkeypatch the names in the module they test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# the spec's constants (trainer_base.py.jinja)
LAYERS: tuple[int, ...] = (2, 2, 1)
DTYPE = np.float64  # the trainer's dtype: float64 or float32, end to end
LOSS: str = "half_sse"
REDUCTION: str = "sum"
TARGETS: str = "real"  # "real", "binary" (0/1) or "one_hot" (a single 1 per row)
PARAM_NAMES: tuple[str, ...] = ("W1", "b1", "W2", "b2")
GRAD_ORDER: tuple[str, ...] = ("W1", "W2", "b1", "b2")
LR: float = 0.05
EPOCHS: int = 100
SEED: int = 0
OPTIMIZER: str = "sgd"
# every optimizer's hyperparameters (the spec's values) and the arrays each keeps
HYPER: dict[str, float] = {"beta": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
STATE: dict[str, tuple[str, ...]] = {"sgd": (), "momentum": ("v",), "adam": ("m", "v")}
SHAPES: dict[str, tuple[int, ...]] = {
    "W1": (2, 2),
    "b1": (2,),
    "W2": (1, 2),
    "b2": (1,),
}

# what the notebook's data cell defines, and the training-run cell's result
X: np.ndarray = np.zeros((0, LAYERS[0]))
y: np.ndarray = np.zeros((0, LAYERS[-1]))
params: dict[str, np.ndarray] = {}
history: list[float] = []


def _generated(name: str) -> NotImplementedError:
    return NotImplementedError(f"{name} is the generated trainer's; monkeypatch it")


def init_params(seed: int = SEED) -> dict[str, np.ndarray]:
    raise _generated("init_params")


def forward(params: dict[str, np.ndarray], X: np.ndarray) -> dict[str, np.ndarray]:
    raise _generated("forward")


def loss(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    raise _generated("loss")


def gradients(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    raise _generated("gradients")


def sgd_step(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR
) -> float:
    raise _generated("sgd_step")


def train(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    lr: float = LR,
    epochs: int = EPOCHS,
    log: Callable[[int, float, dict[str, np.ndarray]], None] | None = None,
    state: dict[str, Any] | None = None,
) -> list[float]:
    raise _generated("train")


def init_state(
    params: dict[str, np.ndarray], optimizer: str = OPTIMIZER, **hyper: float
) -> dict[str, Any]:
    raise _generated("init_state")


def _update_sgd(
    params: dict[str, np.ndarray],
    state: dict[str, Any],
    grads: tuple[np.ndarray, ...],
    lr: float,
) -> None:
    raise _generated("_update_sgd")


# every optimizer's in-place update, by name
UPDATES: dict[
    str,
    Callable[
        [dict[str, np.ndarray], dict[str, Any], tuple[np.ndarray, ...], float], None
    ],
] = {"sgd": _update_sgd}


def step(
    params: dict[str, np.ndarray],
    state: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    lr: float = LR,
) -> float:
    raise _generated("step")


def make_data(n: int = 8, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    raise _generated("make_data")


def _step(*args: Any) -> tuple[float, Any]:
    """The style's hot path (matrix: params, X, y; scalar: flat floats, rows of X, y)."""
    raise _generated("_step")
