"""The trainer's --gradcheck: `gradients` against central finite differences of `loss`."""

from __future__ import annotations

import numpy as np

from ._trainer import DTYPE, PARAM_NAMES, gradients, loss


def gradcheck(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, entries: int = 20
) -> float:
    """The largest CS231n relative error |a - n| / max(|a|, |n|) between `gradients` and
    central finite differences (float64, h = 1e-6), over up to `entries` entries per parameter,
    not counting the finite difference's own rounding noise.

    NaN or inf anywhere (the loss, a weight, any gradient entry, a difference quotient) is an
    error of inf, so a check on such values fails rather than comparing NaN as "not larger".
    """
    grads = gradients(params, X, y)  # in the trainer's dtype
    # the differences in float64 whatever the trainer's dtype (copies: params stay as they are)
    params = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    value = loss(params, X, y)
    worst = 0.0
    if not np.isfinite(value):
        print(f"loss: {value} (not finite)")
        worst = np.inf
    # the two loss values are rounded to ~1e-16 |L|, so the difference quotient carries noise
    # of ~1e-10 |L|: only what exceeds (ten times) that counts as error
    noise = 1e-9 * max(1.0, abs(value))
    rng = np.random.default_rng(0)
    for name in PARAM_NAMES:
        for what, array in (("weights", params[name]), ("gradient", grads[name])):
            if not np.isfinite(array).all():
                print(f"{name}: its {what} hold NaN or inf")
                worst = np.inf
        flat = params[name].reshape(-1)
        picks = rng.choice(flat.size, size=min(entries, flat.size), replace=False)
        for i in np.sort(picks):  # random entries, printed in order
            old = flat[i]
            flat[i] = old + 1e-6
            up = loss(params, X, y)
            flat[i] = old - 1e-6
            down = loss(params, X, y)
            flat[i] = old
            numeric = (up - down) / 2e-6
            analytic = grads[name].reshape(-1)[i]
            error = _relative_error(analytic, numeric, noise)
            raw = _relative_error(analytic, numeric, 0.0)
            within = (
                "  (within the differences' rounding noise)" if raw > error == 0 else ""
            )
            print(
                f"{name}[{i}]: analytic {analytic:.8e}  numeric {numeric:.8e}  "
                f"rel. error {raw:.1e}{within}"
            )
            worst = max(worst, error)
    return worst


def _relative_error(analytic: float, numeric: float, noise: float) -> float:
    """|a - n| less the rounding noise, over max(|a|, |n|); inf when either is not finite."""
    if not (np.isfinite(analytic) and np.isfinite(numeric) and np.isfinite(noise)):
        return np.inf
    scale = max(abs(numeric), abs(analytic), 1e-300)
    return float(max(0.0, abs(numeric - analytic) - noise) / scale)


# CS231n: below 1e-7 is good, 1e-6 fine near kinks; a float32 gradient is itself rounded to
# ~1e-7 per operation, summed over the batch, so 1e-3 there
GRADCHECK_THRESHOLD = 1e-6 if DTYPE == np.float64 else 1e-3
