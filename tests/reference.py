"""A hand-written, correct backprop for the default 2-2-1 network, one sample at a time.

Written from the chain rule on paper (not generated, not copied from symbackprop), with plain
Python floats and explicit loops, so it shares no code path with the generated trainer:

    z_i = sum_j W1[i, j] x_j + b1[i],   h_i = max(z_i, 0),   yhat = sum_i W2[0, i] h_i + b2[0]
    L = sum over samples of (yhat - y)^2 / 2
    dL/dyhat = yhat - y
    dL/dW2[0, i] = (yhat - y) h_i            dL/db2[0] = yhat - y
    dL/dz_i = (yhat - y) W2[0, i] [z_i > 0]  (ReLU'(0) = 0)
    dL/dW1[i, j] = dL/dz_i x_j               dL/db1[i] = dL/dz_i
"""

from __future__ import annotations

import numpy as np

SEED_X = [[1.0, 2.0], [2.0, 1.0]]
SEED_Y = [[3.0], [2.5]]
SEED_PARAMS = {
    "W1": [[0.1, 0.2], [0.3, 0.4]],
    "b1": [0.1, 0.2],
    "W2": [[0.5, 0.6]],
    "b2": [0.3],
}


def seed_params() -> dict[str, np.ndarray]:
    """The seed notebook's initial weights, with b1 as one number per unit."""
    return {k: np.array(v, dtype=float) for k, v in SEED_PARAMS.items()}


def loss_and_gradients(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, reduction: str = "sum"
) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and every gradient, summed (or averaged) over the samples."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    g = {k: np.zeros_like(v, dtype=float) for k, v in params.items()}
    total = 0.0
    for x, t in zip(X, y, strict=True):
        z = [W1[i, 0] * x[0] + W1[i, 1] * x[1] + b1[i] for i in range(2)]
        h = [zi if zi > 0 else 0.0 for zi in z]
        yhat = W2[0, 0] * h[0] + W2[0, 1] * h[1] + b2[0]
        err = yhat - t[0]
        total += 0.5 * err * err
        g["b2"][0] += err
        for i in range(2):
            g["W2"][0, i] += err * h[i]
            dz = err * W2[0, i] * (1.0 if z[i] > 0 else 0.0)
            g["b1"][i] += dz
            for j in range(2):
                g["W1"][i, j] += dz * x[j]
    if reduction == "mean":
        n = len(X)
        total /= n
        g = {k: v / n for k, v in g.items()}
    return total, g


def train(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float, epochs: int
) -> tuple[list[float], list[dict[str, np.ndarray]]]:
    """Plain SGD; returns the loss before each step and the parameters after each step."""
    losses, snapshots = [], []
    for _ in range(epochs):
        value, g = loss_and_gradients(params, X, y)
        for k in params:
            params[k] = params[k] - lr * g[k]
        losses.append(value)
        snapshots.append({k: v.copy() for k, v in params.items()})
    return losses, snapshots
