"""The registry: one entry per activation and per loss, holding every fact about it.

The derivation reads the SymPy expression, the printers the stable NumPy forward and the
LaTeX/MathJax names, the formula parsers the aliases, the trainer the init gain; whether an
activation has a kink, is the identity or uses alpha is worked out from its expression.
Derivatives are never written here: SymPy differentiates `expr`. `register_activation` /
`register_loss` add entries at run time, `unregister_*` take them out again; formula_entries.py
makes them from a spec's formulas (its docstring states the derivative at a kink of where,
abs and max; ReLU'(0) = 0 here: the step is 0 at 0, the z <= 0 side's slope).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .._lazy import sympy as sp
from ..errors import UserError


@dataclass(frozen=True)
class Activation:
    """An activation: entrywise, or (`vector`) over a layer's units together, like softmax.

    `expr(z, alpha)` is its SymPy definition (alpha is the spec's leaky-ReLU slope; others
    ignore it). `numpy` is a numerically safe forward over {z} and {alpha} (no overflow for
    |z| ~ 800; a vector one's takes one sample per row) and `numpy_out` the same writing into
    a buffer {out}, where NumPy can. A `vector` activation maps a sample's pre-activations to
    its outputs; it can only be an output layer's, paired with the loss it simplifies with.
    """

    name: str
    expr: Callable[[sp.Expr, sp.Expr], sp.Expr]
    numpy: str
    latex: str  # operator name in documents; MathJax reads the same
    numpy_out: str = ""
    aliases: tuple[str, ...] = ()  # other names the formula parsers accept (lower case)
    # weights into this layer are drawn with std sqrt(gain / fan_in)
    init_gain: float = 1.0
    formula: str = ""  # the spec's plain-text definition, for one defined by a formula
    vector: Callable[[Sequence[sp.Expr]], list[sp.Expr]] | None = None

    @property
    def mathjax(self) -> str:
        """The name in notebook maths (MathJax understands the same commands)."""
        return self.latex

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a formula may use for it: its own, then the aliases."""
        return (self.name, *self.aliases)

    @functools.cached_property
    def kink(self) -> bool:
        """Not differentiable somewhere (SymPy's derivative has a step): its value there is a
        convention, ReLU'(0) = 0, and numeric checks keep away from it."""
        if self.vector is not None:
            return False
        z = sp.Symbol("z", real=True)
        slope = sp.diff(self.expr(z, sp.Rational(1, 100)), z)
        return bool(slope.has(sp.Heaviside, sp.Piecewise, sp.Max, sp.Min, sp.sign))

    @functools.cached_property
    def uses_alpha(self) -> bool:
        """Whether the spec's slope alpha appears in its definition (leaky ReLU's does)."""
        if self.vector is not None:
            return False
        alpha = sp.Symbol("alpha")
        return bool(self.expr(sp.Symbol("z"), alpha).has(alpha))

    @functools.cached_property
    def is_identity(self) -> bool:
        """act(z) = z: the in-place trainer stores no copy of such a layer."""
        if self.vector is not None:
            return False
        z = sp.Symbol("z")
        return bool(self.expr(z, sp.Symbol("alpha")) == z)


@dataclass(frozen=True)
class Loss:
    """One sample's loss `expr(outputs, y)`; `numpy` is its batch sum over {Y}, {T} and {K}.

    With a `link`, the outputs are logits and the prediction is p = link(z): `link` names the
    activation whose stable NumPy form and document name it prints with, `link_expr` is its
    SymPy definition over a sample's logits.
    """

    name: str
    expr: Callable[[Sequence[sp.Expr], Sequence[sp.Expr]], sp.Expr]
    numpy: str
    description: str
    # None, "sigmoid" (entrywise) or "softmax" (over the outputs): an activation's name
    link: str | None = None
    link_expr: Callable[[Sequence[sp.Expr]], list[sp.Expr]] | None = None
    targets: str = "real"  # "real", "binary" (0/1) or "one_hot" (rows sum to 1)
    formula: str = (
        ""  # the spec's plain-text definition (per output), for a loss defined by one
    )
    # the output activation a loss on probabilities needs (bce: sigmoid, cross_entropy:
    # softmax), or None
    output: str | None = None

    @property
    def shift_invariant(self) -> bool:
        """Whether one number added to all of a sample's logits leaves its loss unchanged
        (softmax with one-hot targets), so they may be shifted by their largest first."""
        return self.link == "softmax" and self.targets == "one_hot"

    @property
    def task(self) -> str:
        """What the random data of a spec without data is: "regression" or "classification"."""
        return "regression" if self.targets == "real" else "classification"

    @functools.cached_property
    def error_slope(self) -> Fraction | None:
        """k when one output's loss has dL/dyhat = k (yhat - y) (half_sse: 1, mse: 2), else
        None: what a constant factor in a per-sample gradient is measured against."""
        yhat, y = sp.symbols("yhat y", real=True)
        ratio = sp.cancel(sp.diff(self.expr([yhat], [y]), yhat) / (yhat - y))
        if ratio.is_Rational and ratio != 0:
            return Fraction(int(ratio.p), int(ratio.q))
        return None


def _sigmoid(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


def _softmax(z: Sequence[sp.Expr]) -> list[sp.Expr]:
    total = sp.Add(*[sp.exp(zk) for zk in z])
    return [sp.exp(zk) / total for zk in z]


def _not_entrywise(z: sp.Expr, alpha: sp.Expr) -> sp.Expr:
    """A vector activation's entry depends on the whole layer: there is no act(z) of one z."""
    raise TypeError("softmax is applied to a sample's outputs together, not entrywise")


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "relu",
            lambda z, _: sp.Max(z, 0),
            "np.maximum({z}, 0)",
            r"\operatorname{ReLU}",
            "np.maximum({z}, 0, out={out})",
            init_gain=2.0,
        ),
        Activation(
            "leaky_relu",
            # alpha z + (1 - alpha) relu(z): z for z > 0, alpha z otherwise. Written with Max,
            # not Piecewise, so deep networks' closed forms stay small (as with relu).
            lambda z, alpha: alpha * z + (1 - alpha) * sp.Max(z, 0),
            "np.where({z} > 0, {z}, {alpha} * {z})",
            r"\operatorname{LeakyReLU}",
            aliases=("leakyrelu",),
        ),
        Activation(
            "sigmoid",
            lambda z, _: _sigmoid(z),
            "np.exp(-np.logaddexp(0, -{z}))",  # 1 / (1 + e^-z) without overflow
            r"\sigma",
            aliases=("sigma", "logistic"),
        ),
        Activation(
            "tanh",
            lambda z, _: sp.tanh(z),
            "np.tanh({z})",
            r"\tanh",
            "np.tanh({z}, out={out})",
        ),
        Activation(
            "softplus",
            lambda z, _: sp.log(1 + sp.exp(z)),
            "np.logaddexp(0, {z})",  # log(1 + e^z) without overflow
            r"\operatorname{softplus}",
            "np.logaddexp(0, {z}, out={out})",
        ),
        Activation("identity", lambda z, _: z, "{z}", r"\operatorname{id}"),
        Activation(
            "softmax",
            _not_entrywise,
            # one sample per row, shifted by its largest logit: no overflow
            "np.exp({z} - np.logaddexp.reduce({z}, axis=1, keepdims=True))",
            r"\operatorname{softmax}",
            vector=_softmax,
        ),
    )
}


def _half_sse(yhat: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    return sp.Add(*[(a - b) ** 2 for a, b in zip(yhat, y, strict=True)]) / 2


def _mse(yhat: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    return sp.Add(*[(a - b) ** 2 for a, b in zip(yhat, y, strict=True)]) / len(yhat)


def _sigmoid_link(z: Sequence[sp.Expr]) -> list[sp.Expr]:
    return [_sigmoid(zk) for zk in z]


def _bce(z: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    p = _sigmoid_link(z)
    return -sp.Add(
        *[t * sp.log(q) + (1 - t) * sp.log(1 - q) for q, t in zip(p, y, strict=True)]
    )


def _bce_on_probabilities(p: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    return -sp.Add(
        *[t * sp.log(q) + (1 - t) * sp.log(1 - q) for q, t in zip(p, y, strict=True)]
    )


def _cross_entropy_on_probabilities(
    p: Sequence[sp.Expr], y: Sequence[sp.Expr]
) -> sp.Expr:
    return -sp.Add(*[t * sp.log(q) for q, t in zip(p, y, strict=True)])


def _cross_entropy(z: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    return -sp.Add(*[t * sp.log(q) for q, t in zip(_softmax(z), y, strict=True)])


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "half_sse",
            _half_sse,
            "0.5 * np.sum(({Y} - {T}) ** 2)",
            "half the squared error, summed over the outputs",
        ),
        Loss(
            "mse",
            _mse,
            "np.sum(({Y} - {T}) ** 2) / {K}",
            "the squared error, averaged over the outputs",
        ),
        Loss(
            "bce_with_logits",
            _bce,
            "np.sum(np.logaddexp(0, {Y}) - {T} * {Y})",
            "binary cross-entropy of sigmoid(z), from the logits z",
            link="sigmoid",
            link_expr=_sigmoid_link,
            targets="binary",
        ),
        Loss(
            "bce",
            _bce_on_probabilities,
            "-np.sum({T} * np.log({Y}) + (1 - {T}) * np.log(1 - {Y}))",
            "binary cross-entropy of probabilities (a sigmoid output layer's)",
            targets="binary",
            output="sigmoid",
        ),
        Loss(
            "cross_entropy",
            _cross_entropy_on_probabilities,
            "-np.sum({T} * np.log(np.where({T} > 0, {Y}, 1.0)))",
            "cross-entropy of probabilities (a softmax output layer's); one-hot targets",
            targets="one_hot",
            output="softmax",
        ),
        Loss(
            "softmax_cross_entropy",
            _cross_entropy,
            "np.sum(np.logaddexp.reduce({Y}, axis=1) - np.sum({T} * {Y}, axis=1))",
            "cross-entropy of softmax(z), from the logits z; one-hot targets",
            link="softmax",
            link_expr=_softmax,
            targets="one_hot",
        ),
    )
}

REDUCTIONS = ("sum", "mean")
_BUILT_IN_ACTIVATIONS = frozenset(ACTIVATIONS)
_BUILT_IN_LOSSES = frozenset(LOSSES)


def activation(name: str) -> Activation:
    """Look up an activation by name (the spec has already validated it)."""
    return ACTIVATIONS[name]


def loss(name: str) -> Loss:
    """Look up a loss by name (the spec has already validated it)."""
    return LOSSES[name]


def _check_new(kind: str, name: str, taken: dict[str, object]) -> None:
    if not name.isidentifier():
        raise UserError(f"{kind} name {name!r} is not an identifier; e.g. swish")
    if name in taken:
        raise UserError(f"{kind} {name!r} is already registered; choose another name")


def register_activation(entry: Activation) -> Activation:
    """Add an activation at run time; every printer, the derivation and both checkers see it."""
    _check_new("activation", entry.name, ACTIVATIONS)
    ACTIVATIONS[entry.name] = entry
    return entry


def register_loss(entry: Loss) -> Loss:
    """Add a loss at run time; every printer, the derivation and both checkers see it."""
    _check_new("loss", entry.name, LOSSES)
    LOSSES[entry.name] = entry
    return entry


def unregister_activation(name: str) -> None:
    """Take out an activation registered at run time (a test's, say); built-ins stay."""
    if name in _BUILT_IN_ACTIVATIONS:
        raise UserError(f"activation {name!r} is built in and cannot be taken out")
    ACTIVATIONS.pop(name, None)


def unregister_loss(name: str) -> None:
    """Take out a loss registered at run time; built-ins stay."""
    if name in _BUILT_IN_LOSSES:
        raise UserError(f"loss {name!r} is built in and cannot be taken out")
    LOSSES.pop(name, None)


def link_latex(kind: str) -> str:
    """A link's name in documents: its activation's."""
    return activation(kind).latex


def entrywise_names() -> list[str]:
    """The activations any layer may use (not softmax, which only an output layer can)."""
    return [a.name for a in ACTIVATIONS.values() if a.vector is None]


def function_aliases() -> dict[str, str]:
    """alias -> activation name, for the formula parsers (names match case-insensitively)."""
    return {alias: a.name for a in ACTIVATIONS.values() for alias in a.names}
