"""NetworkSpec: what network to derive, its defaults (the seed notebook's) and its validation.

Every check here turns a spec that makes no sense into one UserError line (exit code 2).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import UserError
from . import names, registry

Matrix = tuple[tuple[float, ...], ...]
Vector = tuple[float, ...]


@dataclass(frozen=True)
class NetworkSpec:
    """A fully-connected network: sizes (input first), one activation per non-input layer."""

    layers: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str = "half_sse"
    reduction: str = "sum"
    lr: float = 0.05
    epochs: int = 100
    seed: int = 0
    alpha: float = 0.01  # slope of leaky_relu for z <= 0
    name: str = ""
    title: str = ""
    X: Matrix | None = None
    y: Matrix | None = None
    params: Mapping[str, Matrix | Vector] | None = field(default=None, compare=True)

    @property
    def tag(self) -> str:
        """Layer sizes joined by '_', used in file names: 2_2_1."""
        return "_".join(str(n) for n in self.layers)

    @property
    def depth(self) -> int:
        """Number of weight layers (hidden layers + the output layer)."""
        return len(self.layers) - 1

    @property
    def param_names(self) -> list[str]:
        """W1, b1, W2, b2, ... in layer order."""
        return names.param_names(self.depth)

    def param_shape(self, name: str) -> tuple[int, ...]:
        """(units, fan_in) for W_l, (units,) for b_l."""
        parsed = names.parse(name)
        if parsed is None or parsed.kind not in ("W", "b") or parsed.indices:
            raise KeyError(name)
        i = parsed.layer
        return (
            (self.layers[i], self.layers[i - 1])
            if parsed.kind == "W"
            else (self.layers[i],)
        )

    @property
    def param_count(self) -> int:
        """Total number of scalar parameters."""
        return sum(math.prod(self.param_shape(n)) for n in self.param_names)

    def describe(self) -> str:
        """One line naming everything that determines the generated code."""
        data = (
            f"{len(self.X)} samples"
            if self.X is not None
            else "none (random regression set)"
        )
        return (
            f"{self.name}: layers {'-'.join(map(str, self.layers))}, "
            f"activations {', '.join(self.activations)}, loss {self.loss} ({self.reduction}), "
            f"lr {self.lr}, {self.epochs} epochs, seed {self.seed}, "
            + (
                f"alpha {self.alpha}, "
                if any(registry.activation(a).uses_alpha for a in self.activations)
                else ""
            )
            + f"data: {data}"
        )


# The seed notebook's network and data (../shared/seed/notebook_221_relu.txt). Its b1 of
# shape (2, 1) is one of its bugs: a bias is one number per unit, so it is stored as (2,).
DEFAULT = dict(
    layers=(2, 2, 1),
    activations=("relu", "identity"),
    loss="half_sse",
    reduction="sum",
    lr=0.05,
    epochs=100,
    seed=0,
    title="The seed notebook's 2-2-1 ReLU regression network",
    X=((1.0, 2.0), (2.0, 1.0)),
    y=((3.0,), (2.5,)),
    params={
        "W1": ((0.1, 0.2), (0.3, 0.4)),
        "b1": (0.1, 0.2),
        "W2": ((0.5, 0.6),),
        "b2": (0.3,),
    },
)


def default_spec() -> NetworkSpec:
    """The seed notebook's 2-2-1 ReLU network, its data and initial weights."""
    return make_spec(**DEFAULT)


def make_spec(**fields: Any) -> NetworkSpec:
    """Build and validate a spec; unknown or missing activations get the usual defaults."""
    layers = _layers(fields.pop("layers"))
    acts = fields.pop("activations", None)
    if acts is None:
        acts = ["relu"] * (len(layers) - 2) + ["identity"]
    spec = NetworkSpec(layers=layers, activations=tuple(acts), **fields)
    if not spec.name:
        spec = replace(spec, name=f"net_{spec.tag}")
    if not spec.title:
        spec = replace(spec, title=f"{'-'.join(map(str, layers))} network")
    validate(spec)
    return spec


def _layers(value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        try:
            value = [int(p) for p in value.split(",")]
        except ValueError:
            raise UserError(
                f"layers: {value!r} is not a comma-separated list of whole numbers; "
                "write e.g. --layers 2,2,1 (inputs, hidden..., outputs)"
            ) from None
    if not isinstance(value, Sequence) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in value
    ):
        raise UserError(
            f"layers: {value!r} is not a list of whole numbers; write e.g. layers = [2, 2, 1]"
        )
    return tuple(value)


def validate(spec: NetworkSpec) -> None:
    """Refuse, with one line naming the problem and the fix, a spec that makes no sense."""
    n = spec.layers
    if len(n) < 3:
        raise UserError(
            f"layers: {list(n)} has only {len(n)} size{'s' if len(n) != 1 else ''}; give at least 3 (inputs, one or more "
            "hidden layers, outputs), e.g. 2,2,1"
        )
    for i, size in enumerate(n):
        if size < 1:
            what = (
                "input"
                if i == 0
                else "output"
                if i == len(n) - 1
                else f"hidden layer {i}"
            )
            raise UserError(
                f"layers: the {what} has width {size}; every layer needs at least 1 unit"
            )
    if len(spec.activations) != len(n) - 1:
        raise UserError(
            f"activations: {len(spec.activations)} given ({', '.join(spec.activations)}) but "
            f"layers {'-'.join(map(str, n))} has {len(n) - 1} non-input layers; give one each, "
            f"e.g. {','.join(['relu'] * (len(n) - 2) + ['identity'])}"
        )
    for a in spec.activations:
        if a not in registry.ACTIVATIONS:
            raise UserError(
                f"activations: unknown activation {a!r}; choose from "
                f"{', '.join(sorted(registry.ACTIVATIONS))}"
            )
    if spec.loss not in registry.LOSSES:
        raise UserError(
            f"loss: unknown loss {spec.loss!r}; choose from {', '.join(sorted(registry.LOSSES))}"
        )
    loss = registry.loss(spec.loss)
    if (
        loss.link is not None
        and not registry.activation(spec.activations[-1]).is_identity
    ):
        raise UserError(
            f"loss {spec.loss} applies {loss.link} to the raw outputs (logits) itself: set the "
            f"output activation to identity, e.g. --activations "
            f"{','.join([*spec.activations[:-1], 'identity'])}"
        )
    if loss.link == "softmax" and n[-1] < 2:
        raise UserError(
            "loss softmax_cross_entropy needs at least 2 outputs (one per class); "
            "for one output use bce_with_logits"
        )
    if not (isinstance(spec.alpha, int | float) and math.isfinite(spec.alpha)):
        raise UserError(f"alpha: {spec.alpha!r} is not a number; e.g. alpha = 0.01")
    if spec.reduction not in registry.REDUCTIONS:
        raise UserError(
            f"reduction: {spec.reduction!r} is not one of {', '.join(registry.REDUCTIONS)}"
        )
    if not spec.title.isprintable():
        raise UserError(
            "title: use one line of printable text (no newlines or control characters)"
        )
    if not spec.name.isidentifier() or keyword.iskeyword(spec.name):
        raise UserError(
            f"name: {spec.name!r} is not a valid Python identifier; use letters, digits and "
            "underscores, not starting with a digit, e.g. net_2_2_1"
        )
    if not (
        isinstance(spec.lr, int | float) and math.isfinite(spec.lr) and spec.lr > 0
    ):
        raise UserError(f"lr: {spec.lr!r} is not a positive number; e.g. lr = 0.05")
    if not (isinstance(spec.epochs, int) and spec.epochs >= 1):
        raise UserError(
            f"epochs: {spec.epochs!r} is not a positive whole number; e.g. 100"
        )
    if not isinstance(spec.seed, int):
        raise UserError(f"seed: {spec.seed!r} is not a whole number")
    if (spec.X is None) != (spec.y is None):
        raise UserError("data: give both X and y, or neither")
    if spec.X is not None and spec.y is not None:
        _check_matrix("data.X", spec.X, (None, n[0]), "inputs")
        _check_matrix("data.y", spec.y, (len(spec.X), n[-1]), "outputs")
        _check_targets(spec.y, loss.targets, spec.loss)
    if spec.params is not None:
        for key in spec.params:
            if key not in spec.param_names:
                raise UserError(
                    f"params: unknown parameter {key!r}; this network has "
                    f"{', '.join(spec.param_names)}"
                )
        for key in spec.param_names:
            if key not in spec.params:
                raise UserError(
                    f"params: {key} is missing; give all of {', '.join(spec.param_names)}"
                )
            shape = spec.param_shape(key)
            what = (
                "units x inputs of the layer"
                if key[0] == "W"
                else "one number per unit"
            )
            if len(shape) == 2:
                _check_matrix(f"params.{key}", spec.params[key], shape, what)
            else:
                _check_vector(f"params.{key}", spec.params[key], shape[0], what)


def _check_targets(y: Matrix, kind: str, loss: str) -> None:
    for i, row in enumerate(y):
        if kind == "binary" and any(v not in (0.0, 1.0) for v in row):
            raise UserError(
                f"data.y[{i}]: {loss} needs binary targets (0 or 1), got {list(row)}"
            )
        if kind == "one_hot" and (
            any(v not in (0.0, 1.0) for v in row) or sum(row) != 1.0
        ):
            raise UserError(
                f"data.y[{i}]: {loss} needs one-hot targets (a single 1 per row), got {list(row)}"
            )


def _shape_of(value: object) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        inner = {_shape_of(v) for v in value}
        return f"({len(value)}{', ' + inner.pop().strip('()') if len(inner) == 1 and inner != {'()'} else ''})"
    return "()"


def _number(where: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise UserError(f"{where}: {v!r} is not a finite number")
    return float(v)


def _check_matrix(
    where: str, value: object, shape: tuple[int | None, int], what: str
) -> None:
    rows, cols = shape
    lists = isinstance(value, Sequence) and not isinstance(value, str)
    widths = [len(r) for r in value if isinstance(r, Sequence)] if lists else []  # type: ignore[union-attr]
    if len(set(widths)) > 1:  # rows of different lengths: name the odd one out
        first = widths[0]
        i = next(k for k, w in enumerate(widths) if w != first)
        raise UserError(
            f"{where}[{i}]: row {i + 1} has {widths[i]} number"
            f"{'s' if widths[i] != 1 else ''} where row 1 has {first}; every row needs "
            f"{cols} ({what})"
        )
    ok = isinstance(value, Sequence) and all(
        isinstance(r, Sequence) and not isinstance(r, str) and len(r) == cols
        for r in value
    )
    if not ok or (rows is not None and len(value) != rows) or len(value) == 0:  # type: ignore[arg-type]
        want = f"({rows if rows is not None else 'N'}, {cols})"
        raise UserError(
            f"{where}: shape {_shape_of(value)} does not match the layers; expected {want} "
            f"({what})"
        )
    for i, r in enumerate(value):  # type: ignore[union-attr]
        for j, v in enumerate(r):
            _number(f"{where}[{i}][{j}]", v)


def _check_vector(where: str, value: object, size: int, what: str) -> None:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != size
        or any(isinstance(v, Sequence) for v in value)
    ):
        raise UserError(
            f"{where}: shape {_shape_of(value)} does not match the layers; expected ({size},) "
            f"({what}), e.g. [{', '.join(['0.0'] * size)}]"
        )
    for i, v in enumerate(value):
        _number(f"{where}[{i}]", v)
