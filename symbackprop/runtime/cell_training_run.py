"""The notebook's training-run cell: train a copy of the weights, say whether the loss fell."""

from __future__ import annotations

import numpy as np

from ._trainer import EPOCHS, LR, X, params, train, y


def cell() -> None:
    """The cell's top-level code (`trained` and `history` are the notebook's afterwards)."""
    trained = {name: value.copy() for name, value in params.items()}
    every = max(1, EPOCHS // 10)

    def show(epoch: int, value: float, grads: dict[str, np.ndarray]) -> None:
        """Print the loss at epoch 1, every `every` epochs, and at the last."""
        if epoch == 1 or epoch % every == 0 or epoch == EPOCHS:
            print(f"epoch {epoch:>6}  loss {value:.6g}")

    # a diverging run is reported below
    with np.errstate(over="ignore", invalid="ignore"):
        history = train(trained, X, y, LR, EPOCHS, log=show)
    if history[-1] < history[0]:
        print(
            f"The loss fell from {history[0]:.6g} to {history[-1]:.6g} in {EPOCHS} epochs."
        )
    else:
        print(
            f"The loss did not fall ({history[0]:.6g} to {history[-1]:.6g}): "
            "the learning rate is too large for this network and data; try a smaller one "
            "(the lr argument of train, or --lr when generating the notebook)."
        )
