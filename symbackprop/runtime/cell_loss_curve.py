"""The notebook's loss-curve cell: matplotlib if installed, else the curve as a text bar chart."""

from __future__ import annotations

import numpy as np

from ._trainer import LR, history


def cell() -> None:
    """The cell's top-level code: plot `history` (log scale when it spans over 100x)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None

    values = np.array(history, dtype=float)
    finite = values[np.isfinite(values)]
    log_scale = bool(
        finite.size and finite.min() > 0 and finite.max() > 100 * finite.min()
    )
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(np.arange(1, values.size + 1), values)
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title(f"Training loss, learning rate {LR}")
        ax.grid(alpha=0.3)
        plt.show()
    else:
        print(
            "matplotlib is not installed, so the curve is text"
            + (" (log scale):" if log_scale else ":")
        )
        scaled = np.log10(values) if log_scale else values
        shown = scaled[np.isfinite(scaled)]
        low, high = (shown.min(), shown.max()) if shown.size else (0.0, 0.0)
        span = (high - low) or 1.0
        for epoch in sorted(
            set(np.linspace(1, values.size, min(values.size, 20)).astype(int))
        ):
            s = scaled[epoch - 1]
            bar = (
                "#" * (1 + round(49 * (s - low) / span))
                if np.isfinite(s)
                else "(overflow)"
            )
            print(f"epoch {epoch:>6}  {values[epoch - 1]:>12.6g}  {bar}")
