"""The worked example: epoch 1 and a whole training run, computed by the generated trainer.

Only numbers come from the trainer; their names are printed from the spec (notation.py).
"""

from __future__ import annotations

import math
import types
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ..derive import Derivation
from ..printing.notation import array_tex, has_link, partial, transposed
from ..printing.prose import Code
from ..printing.tex import TEX, Display, matrix_tex, number_tex
from ..spec import names, registry

# The loss curve plots at most this many points (evenly spaced epochs, always the last).
PLOT_POINTS = 200


@dataclass(frozen=True)
class Pair:
    """Up to two named values shown side by side in the worked example."""

    items: tuple[Display, ...]


@dataclass(frozen=True)
class LossCurve:
    """The training run's loss for the pgfplots figure."""

    coordinates: str
    log_scale: bool
    epochs: int
    first: str
    last: str
    note: str = ""


@dataclass(frozen=True)
class Example:
    """The worked example's numbers, all computed by the generated trainer."""

    X: np.ndarray
    y: np.ndarray
    params: dict[str, np.ndarray]
    cache: dict[str, np.ndarray]
    loss: float
    grads: dict[str, np.ndarray]
    updated: dict[str, np.ndarray]
    history: list[float]
    data_note: str


@dataclass(frozen=True)
class Named:
    """A value to show, with its name as maths and the name of its transpose."""

    name: str
    top: str
    value: np.ndarray


@dataclass(frozen=True)
class ExampleSection:
    """The worked example as the document shows it (LaTeX strings)."""

    intro: str
    inputs: tuple[Pair, ...]
    forward: tuple[Pair, ...]
    loss: Display
    gradients: tuple[Pair, ...]
    updated: tuple[Pair, ...]
    lr: str
    optimizer: str
    curve: LossCurve


def run_example(d: Derivation, trainer: types.ModuleType) -> Example:
    """Epoch 1 and the whole training run on the spec's data (or the trainer's random set)."""
    spec = d.spec
    if spec.X is not None and spec.y is not None:
        X, y = np.array(spec.X, dtype=float), np.array(spec.y, dtype=float)
        data = TEX.text(
            f"the spec's data ({len(X)} {'sample' if len(X) == 1 else 'samples'})"
        )
    else:
        X, y = trainer.make_data(seed=spec.seed)
        data = TEX.text(
            f"a random {registry.loss(spec.loss).task} set of {len(X)} samples from the "
            "trainer's ",
            Code(f"make_data(seed={spec.seed})"),
            " (the spec has no data)",
        )
    if spec.params is not None:
        params = {k: np.array(spec.params[k], dtype=float) for k in spec.param_names}
        weights = "the spec's initial weights"
    else:
        params = trainer.init_params(spec.seed)
        weights = TEX.text(
            "initial weights from ",
            Code(f"init_params({spec.seed})"),
            " (the spec gives none)",
        )
    note = f"This example uses {data} and {weights}."
    # a diverging run is reported, not warned about; N-row products run fastest on one thread
    with np.errstate(all="ignore"), threadpool_limits(limits=1, user_api="blas"):
        cache = trainer.forward(params, X)
        loss, grads = trainer.loss_and_gradients(params, X, y)
        updated = {k: v.copy() for k, v in params.items()}
        trainer.step(updated, trainer.init_state(updated), X, y, spec.lr)
        run = {k: v.copy() for k, v in params.items()}
        history = trainer.train(run, X, y, spec.lr, spec.epochs)
    return Example(X, y, params, cache, float(loss), grads, updated, history, note)


def pairs(items: Sequence[Named]) -> tuple[Pair, ...]:
    """Side by side when both are narrow, else one per line; a long vector as a row."""
    out: list[Pair] = []
    pending: list[Display] = []
    for item in items:
        name, a = item.name, np.asarray(item.value)
        if a.ndim == 1 and a.size > 2:  # a long column would waste a page
            name, a = item.top, a.reshape(1, -1)
        narrow = a.ndim < 2 or a.shape[1] <= 2
        disp = Display(name, (matrix_tex(a),))
        if narrow:
            pending.append(disp)
            if len(pending) == 2:
                out.append(Pair(tuple(pending)))
                pending = []
        else:
            if pending:
                out.append(Pair(tuple(pending)))
                pending = []
            out.append(Pair((disp,)))
    if pending:
        out.append(Pair(tuple(pending)))
    return tuple(out)


def curve(history: Sequence[float]) -> LossCurve:
    """The loss per epoch, thinned to PLOT_POINTS, on a log axis when it spans 100x."""
    n = len(history)
    step = max(1, math.ceil(n / PLOT_POINTS))
    epochs = sorted(set(range(1, n + 1, step)) | {n})
    values = [float(history[e - 1]) for e in epochs]
    finite = [v for v in values if math.isfinite(v)]
    positive = [v for v in finite if v > 0]
    log_scale = len(positive) == len(values) and max(positive) / min(positive) > 100
    coords = " ".join(
        f"({e},{v:.6e})"
        for e, v in zip(epochs, values, strict=True)
        if math.isfinite(v)
    )
    bad = next((e for e, v in enumerate(history, 1) if not math.isfinite(v)), None)
    note = (
        f" The loss overflowed at epoch {bad}: the learning rate is too large for this network "
        "and data, so training diverged (the plot stops there)."
        if bad is not None
        else ""
    )
    return LossCurve(
        coords or "(1,0)",
        log_scale,
        n,
        number_tex(history[0]),
        number_tex(history[-1]),
        note,
    )


def _named(name: str, value: np.ndarray, link: bool = False) -> Named:
    return Named(array_tex(name, link), array_tex(name, link, top=True), value)


def example_section(d: Derivation, trainer: types.ModuleType) -> ExampleSection:
    """Run the example and name every value it shows."""
    spec = d.spec
    ex = run_example(d, trainer)
    link = has_link(d)
    L = len(d.layers)
    inputs = [_named(names.INPUTS, ex.X), _named(names.TARGETS, ex.y)]
    inputs += [_named(k, ex.params[k]) for k in spec.param_names]
    # an identity output layer copies Z^(L): one matrix named both ways (the outputs, or with a
    # link the logits)
    identity_out = registry.activation(d.layers[-1].activation).is_identity
    forward = []
    for key, value in ex.cache.items():
        if key == names.pre_activation(L) and identity_out:
            name = f"{array_tex(key)} = {array_tex(names.OUTPUTS, link)}"
            forward.append(Named(name, transposed(name), value))
        elif not (key == names.OUTPUTS and identity_out):
            forward.append(_named(key, value, link))
    grads = []
    updated = []
    for k in spec.param_names:
        grad = partial(r"\mathcal{L}", array_tex(k))
        grads.append(Named(grad, transposed(grad), ex.grads[k]))
        small = partial(r"\mathcal{L}", array_tex(k), frac=r"\tfrac")
        step = (
            array_tex(k) + r" - \eta\," + small
            if spec.optimizer == "sgd"
            else array_tex(k) + r"\ \text{after the step}"
        )
        updated.append(Named(step, transposed(step), ex.updated[k]))
    return ExampleSection(
        intro=ex.data_note,
        inputs=pairs(inputs),
        forward=pairs(forward),
        loss=Display(r"\mathcal{L}", (number_tex(ex.loss),)),
        gradients=pairs(grads),
        updated=pairs(updated),
        lr=number_tex(spec.lr),
        optimizer=TEX.text(Code(spec.optimizer)),
        curve=curve(ex.history),
    )
