"""What the network answers: predict(params, X), and accuracy for a classifier."""

from __future__ import annotations

import numpy as np

from ._trainer import TARGETS, forward


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The network's answer for each row of X: its outputs (real targets), 0/1 labels (binary
    targets: sigmoid(z) > 1/2, i.e. a positive logit) or a class index (one-hot targets)."""
    Y = forward(params, X)["Y"]
    if TARGETS == "binary":
        return (Y > 0).astype(int)
    if TARGETS == "one_hot":
        return np.argmax(Y, axis=1)
    return Y


def accuracy(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    """A classifier's fraction of right answers: labels equal to y's (binary, every output)
    or the class of y's single 1 (one-hot)."""
    labels = predict(params, X)
    if TARGETS == "one_hot":
        return float(np.mean(labels == np.argmax(y, axis=1)))
    return float(np.mean(labels == y))
