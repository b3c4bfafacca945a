"""The notebook's gradient-check cell: backprop against central differences, off ReLU's kink."""

from __future__ import annotations

import numpy as np

from ._trainer import (
    PARAM_NAMES,
    SEED,
    X,
    forward,
    gradients,
    loss,
    params,
    y,
)

TOLERANCE = 1e-6
EPS = 1e-5  # the finite-difference step
NUDGE = 1e-3  # noise added to the initial weights, to move off exact zeros
MAX_ENTRIES = 50  # a larger parameter is checked at this many entries spread over it
# the pre-activations whose activation's derivative jumps at 0 (a step in SymPy's derivative)
# slot kinks: the template gives the spec's, e.g. KINKS = ("Z1",)
KINKS: tuple[str, ...] = ()
# end slot kinks


def crosses_kink(
    params: dict[str, np.ndarray], X: np.ndarray, name: str, index: tuple
) -> bool:
    """True when moving params[name][index] by +-EPS takes a pre-activation in KINKS across 0."""
    if not KINKS:
        return False
    value = params[name]
    saved = value[index]
    value[index] = saved + EPS
    plus = forward(params, X)
    value[index] = saved - EPS
    minus = forward(params, X)
    value[index] = saved
    return any(np.any((plus[z] > 0) != (minus[z] > 0)) for z in KINKS)


def numerical_gradients(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Central differences of `loss` (NaN where not checked), and the entries skipped at a kink."""
    numeric, skipped = {}, {}
    for name in PARAM_NAMES:
        value = params[name]
        grad = np.full(value.shape, np.nan)
        skipped[name] = 0
        flat = np.unique(
            np.linspace(0, value.size - 1, min(value.size, MAX_ENTRIES)).astype(int)
        )
        for index in zip(*np.unravel_index(flat, value.shape), strict=True):
            if crosses_kink(params, X, name, index):
                skipped[name] += 1
                continue
            saved = value[index]
            value[index] = saved + EPS
            plus = loss(params, X, y)
            value[index] = saved - EPS
            minus = loss(params, X, y)
            value[index] = saved
            grad[index] = (plus - minus) / (2 * EPS)
        numeric[name] = grad
    return numeric, skipped


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """|a - n| / max(|a|, |n|) over the checked entries: 0 when both are 0, NaN if none;
    inf when backprop gave a NaN or inf anywhere (never "not checked" or "ok")."""
    if not np.isfinite(analytic).all():
        return float("inf")
    checked = ~np.isnan(numeric)
    if not checked.any():
        return float("nan")
    a, n = analytic[checked], numeric[checked]
    scale = max(np.linalg.norm(a), np.linalg.norm(n))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - n) / scale)


def cell() -> None:
    """The cell's top-level code: check every parameter, print a table, assert it passed."""
    rng = np.random.default_rng(SEED)
    X64, y64 = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    check_params = {
        name: np.asarray(value, dtype=np.float64)
        + rng.normal(0.0, NUDGE, np.shape(value))
        for name, value in params.items()
    }
    analytic = gradients(check_params, X64, y64)
    numeric, skipped = numerical_gradients(check_params, X64, y64)
    errors = {
        name: relative_error(analytic[name], numeric[name]) for name in PARAM_NAMES
    }
    for name, error in errors.items():
        verdict = (
            "not checked" if np.isnan(error) else "ok" if error < TOLERANCE else "WRONG"
        )
        note = f" ({skipped[name]} entries at a kink skipped)" if skipped[name] else ""
        print(
            f"{name:>5} {str(params[name].shape):>10}  relative error {error:.1e}  {verdict}{note}"
        )
    checked = [e for e in errors.values() if not np.isnan(e)]
    assert checked and max(checked) < TOLERANCE, f"gradient check failed: {errors}"
    print(f"gradient check passed: every relative error is below {TOLERANCE:g}")
