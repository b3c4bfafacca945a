"""The trainer's --gradcheck: `gradients` against central finite differences of `loss`."""

from __future__ import annotations

import numpy as np

from ._trainer import PARAM_NAMES, gradients, loss


def gradcheck(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, entries: int = 20
) -> float:
    """The largest CS231n relative error |a - n| / max(|a|, |n|) between `gradients` and
    central finite differences (float64, h = 1e-6), over up to `entries` entries per parameter,
    not counting the finite difference's own rounding noise.
    """
    grads = gradients(params, X, y)
    rng = np.random.default_rng(0)
    # the two loss values are rounded to ~1e-16 |L|, so the difference quotient carries noise
    # of ~1e-10 |L|: only what exceeds (ten times) that counts as error
    noise = 1e-9 * max(1.0, abs(loss(params, X, y)))
    worst = 0.0
    for name in PARAM_NAMES:
        flat = params[name].reshape(-1)
        picks = rng.choice(flat.size, size=min(entries, flat.size), replace=False)
        for i in picks:
            old = flat[i]
            flat[i] = old + 1e-6
            up = loss(params, X, y)
            flat[i] = old - 1e-6
            down = loss(params, X, y)
            flat[i] = old
            numeric = (up - down) / 2e-6
            analytic = grads[name].reshape(-1)[i]
            scale = max(abs(numeric), abs(analytic), 1e-300)
            error = max(0.0, abs(numeric - analytic) - noise) / scale
            print(
                f"{name}[{i}]: analytic {analytic:.8e}  numeric {numeric:.8e}  rel. error {error:.1e}"
            )
            worst = max(worst, error)
    return worst


GRADCHECK_THRESHOLD = 1e-6  # CS231n: below 1e-7 is good, 1e-6 fine near kinks
