"""The optimizer registry: one entry per update rule, holding every fact about it.

An update rule is a list of SymPy assignments over one parameter `theta`, its gradient `g`,
the learning rate `eta`, the step count `t` and the optimizer's own state and hyperparameters.
The trainer prints its NumPy from them, the documents their LaTeX, and the proof checks the
emitted code against them: nothing here is printed by hand anywhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from .._lazy import sympy as sp


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its spec key, default, the range it must lie in, what it is."""

    name: str
    default: float
    low: float  # inclusive
    high: float | None  # exclusive; None: unbounded
    meaning: str


@dataclass(frozen=True)
class Optimizer:
    """An update rule: `rules()` gives (name, expr) assignments, run in order per parameter.

    Names in `state` persist between steps (arrays shaped like the parameter, zero at first);
    `theta` is the parameter itself (updated in place); any other name is a temporary.
    """

    name: str
    description: str
    hyper: tuple[str, ...]
    state: tuple[str, ...]
    counts_steps: bool  # t is the number of this step (1 at the first)
    rules: Callable[[], tuple[tuple[str, sp.Expr], ...]]


HYPERPARAMETERS: dict[str, Hyper] = {
    h.name: h
    for h in (
        Hyper("beta", 0.9, 0.0, 1.0, "momentum's decay of the velocity"),
        Hyper("beta1", 0.9, 0.0, 1.0, "Adam's decay of the first moment"),
        Hyper("beta2", 0.999, 0.0, 1.0, "Adam's decay of the second moment"),
        Hyper("eps", 1e-8, 0.0, None, "Adam's guard against division by zero"),
    )
}


@functools.cache
def symbol(name: str) -> sp.Symbol:
    """The one SymPy symbol of a name in an update rule (positive: decays, rates, eps)."""
    positive = name in (*HYPERPARAMETERS, "eta", "t")
    return sp.Symbol(name, positive=True) if positive else sp.Symbol(name, real=True)


def _s(*names: str) -> tuple[sp.Symbol, ...]:
    return tuple(symbol(n) for n in names)


# The rules are built unevaluated, so they print in the order written here (a student reads
# `beta * v + g`, not SymPy's canonical `g + beta*v`); their meaning is the same.


def _sgd() -> tuple[tuple[str, sp.Expr], ...]:
    theta, g, eta = _s("theta", "g", "eta")
    with sp.evaluate(False):
        return (("theta", theta - eta * g),)


def _momentum() -> tuple[tuple[str, sp.Expr], ...]:
    theta, g, eta, v, beta = _s("theta", "g", "eta", "v", "beta")
    with sp.evaluate(False):
        return (("v", beta * v + g), ("theta", theta - eta * v))


def _adam() -> tuple[tuple[str, sp.Expr], ...]:
    theta, g, eta, t, m, v, mhat, vhat = _s(
        "theta", "g", "eta", "t", "m", "v", "mhat", "vhat"
    )
    beta1, beta2, eps = _s("beta1", "beta2", "eps")
    with sp.evaluate(False):
        return (
            ("m", beta1 * m + (1 - beta1) * g),
            ("v", beta2 * v + (1 - beta2) * g**2),
            ("mhat", m / (1 - beta1**t)),
            ("vhat", v / (1 - beta2**t)),
            ("theta", theta - eta * mhat / (sp.sqrt(vhat) + eps)),
        )


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", "plain gradient descent", (), (), False, _sgd),
        Optimizer(
            "momentum",
            "gradient descent with momentum (PyTorch's form: the velocity sums gradients)",
            ("beta",),
            ("v",),
            False,
            _momentum,
        ),
        Optimizer(
            "adam",
            "Adam (Kingma and Ba, 2015), with bias-corrected moments",
            ("beta1", "beta2", "eps"),
            ("m", "v"),
            True,
            _adam,
        ),
    )
}


def optimizer(name: str) -> Optimizer:
    """Look up an optimizer by name (the spec has already validated it)."""
    return OPTIMIZERS[name]
