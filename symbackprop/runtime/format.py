"""The epoch line of the seed notebook, printed fast: print_epoch and format_array (NumPy's str)."""

from __future__ import annotations

import numpy as np

from ._trainer import GRAD_ORDER


def print_epoch(
    epoch: int, value: float, grads: dict[str, np.ndarray], *extra: str
) -> None:
    """One line in the seed notebook's format: epoch, loss, every gradient rounded (then any
    `extra` fields, such as the accuracy)."""
    fields = []
    for name in GRAD_ORDER:
        # rounded in float64, so a float32 trainer's 0.29 prints as 0.29
        rounded = np.round(grads[name].flatten().astype(np.float64), 2)
        fields += [f"{name}_grad:", format_array(rounded)]
    print("Epoch:", epoch, "loss:", loss_text(value), *fields, *extra)


def loss_text(value: float) -> str:
    """The loss to 4 decimals as the seed printed it (0.0365) while that keeps 3 significant
    digits; smaller ones to 4 significant digits (1.539e-07), never rounded to 0.0."""
    if value == 0 or not np.isfinite(value) or abs(value) >= 0.01:
        return str(float(np.round(value, 4)))
    return f"{value:.4g}"


def format_array(values: np.ndarray) -> str:
    """str(values) as NumPy prints a short 1-D float array, written out because it is ~6x
    faster (printing is most of a 100-epoch run); anything unusual is left to NumPy itself.
    """
    items = values.tolist()
    magnitudes = [abs(v) for v in items if v != 0]
    if (
        len(items) > 24  # NumPy would summarise: [a b c ... x y z]
        or not np.isfinite(values).all()
        or (magnitudes and (max(magnitudes) >= 1e8 or min(magnitudes) < 1e-4))
        or (magnitudes and max(magnitudes) > 1000 * min(magnitudes))
    ):
        with np.printoptions(threshold=24, edgeitems=3, linewidth=1_000_000):
            return str(values)
    texts = [repr(v)[:-1] if repr(v).endswith(".0") else repr(v) for v in items]
    parts = [t.split(".") for t in texts]
    left = max(len(whole) for whole, _ in parts)
    right = max(len(frac) for _, frac in parts)
    return "[" + " ".join(w.rjust(left) + "." + f.ljust(right) for w, f in parts) + "]"
