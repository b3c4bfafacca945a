"""Random targets and how far two arrays differ: NumPy only, shared by the proof and check-code
(which runs without SymPy)."""

from __future__ import annotations

import numpy as np


def random_targets(kind: str, k: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """n rows of k targets of the kind a loss takes: real, binary 0/1, or one-hot rows."""
    if kind == "binary":
        return rng.integers(0, 2, size=(n, k)).astype(float)
    if kind == "one_hot":
        return np.eye(k)[rng.integers(0, k, size=n)]
    return rng.normal(size=(n, k))


def max_rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|b|, 1e-12 + |a|) over entries: CS231n-style, safe at zero."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    denom = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b) / denom))
