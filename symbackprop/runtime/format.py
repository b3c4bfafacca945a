"""The epoch line of the seed notebook, printed fast: print_epoch and format_array (NumPy's str)."""

from __future__ import annotations

import numpy as np

from ._trainer import GRAD_ORDER


def print_epoch(
    epoch: int, value: float, grads: dict[str, np.ndarray], *extra: str
) -> None:
    """One line in the seed notebook's format: epoch, loss, every gradient rounded (then any
    `extra` fields, such as the accuracy)."""
    arrays = [grads[name].ravel() for name in GRAD_ORDER]
    # one rounding for them all, in float64, so a float32 trainer's 0.29 prints as 0.29
    rounded = np.concatenate(arrays, dtype=np.float64).round(2).tolist()
    fields, start = [], 0
    for name, array in zip(GRAD_ORDER, arrays, strict=True):
        fields += [f"{name}_grad:", format_numbers(rounded[start : start + array.size])]
        start += array.size
    print("Epoch:", epoch, "loss:", loss_text(value), *fields, *extra)


def loss_text(value: float) -> str:
    """The loss to 4 decimals as the seed printed it (0.0365) while that keeps 3 significant
    digits; smaller ones to 4 significant digits (1.539e-07), never rounded to 0.0."""
    value = float(value)
    if 0.01 <= abs(value) < INFINITY:
        # np.round(value, 4)'s arithmetic (scale, round half to even, unscale), without its
        # cost per call
        return str(round(value * 10000.0) / 10000.0)
    if value == 0 or not abs(value) < INFINITY:  # 0.0, inf, nan as Python prints them
        return str(value)
    return f"{value:.4g}"


INFINITY = float("inf")


def format_array(values: np.ndarray) -> str:
    """str(values) for a short 1-D float array, as NumPy prints it."""
    return format_numbers(values.tolist())


def format_numbers(items: list[float]) -> str:
    """str(np.array(items)) as NumPy prints a short list of floats, written out because it is
    ~6x faster (printing is most of a 100-epoch run); anything unusual is left to NumPy.
    """
    magnitudes = [abs(v) for v in items if v]
    low, high = (min(magnitudes), max(magnitudes)) if magnitudes else (1.0, 1.0)
    if (
        len(items) > 24  # NumPy would summarise: [a b c ... x y z]
        or not 1e-4 <= low <= high < 1e8  # NumPy would write exponents
        or high > 1000 * low  # as here too
        or sum(magnitudes) != sum(magnitudes)  # a NaN
    ):
        with np.printoptions(threshold=24, edgeitems=3, linewidth=1_000_000):
            return str(np.array(items))
    # NumPy writes 2.0 as "2." and pads every number to the same digits on both sides
    parts = [repr(v).removesuffix(".0").partition(".")[::2] for v in items]
    left = max([len(whole) for whole, _ in parts])
    right = max([len(frac) for _, frac in parts])
    return (
        "[" + " ".join([w.rjust(left) + "." + f.ljust(right) for w, f in parts]) + "]"
    )
