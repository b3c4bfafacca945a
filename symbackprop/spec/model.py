"""NetworkSpec: what network to derive, its defaults (the seed notebook's) and its validation.

Every check here turns a spec that makes no sense into one UserError line (exit code 2).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from ..errors import UserError
from . import names, optimizers, registry
from .formula_entries import Formula, register_formulas
from .limits import (
    DOCUMENT_ARTEFACTS,
    MAX_DEPTH,
    MAX_DOCUMENT_PARAMETERS,
    MAX_EPOCHS,
    MAX_NUMBER_CHARS,
    MAX_PARAMETERS,
    MAX_SEED,
    MAX_TEXT_CHARS,
    MAX_WIDTH,
    shown,
)

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
    optimizer: str = "sgd"
    beta: float = optimizers.HYPERPARAMETERS["beta"].default
    beta1: float = optimizers.HYPERPARAMETERS["beta1"].default
    beta2: float = optimizers.HYPERPARAMETERS["beta2"].default
    eps: float = optimizers.HYPERPARAMETERS["eps"].default
    dtype: str = "float64"
    # L2 penalty lambda: lambda/2 * the sum of every weight matrix's squares (not the
    # biases), added to the batch loss after the reduction
    l2: float = 0.0
    name: str = ""
    title: str = ""
    X: Matrix | None = None
    y: Matrix | None = None
    params: Mapping[str, Matrix | Vector] | None = field(default=None, compare=True)
    # activations and losses defined by a formula ([activation.NAME], [loss.NAME], flags)
    formulas: tuple[Formula, ...] = ()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled (on a Dask worker, say): its formula-defined entries are registered."""
        for key, value in state.items():
            object.__setattr__(self, key, value)
        register_formulas(self.formulas)

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
        return parameter_count(self.layers)

    @property
    def hyper(self) -> dict[str, float]:
        """The optimizer's hyperparameters, by spec key (none for sgd)."""
        entry = optimizers.optimizer(self.optimizer)
        return {key: float(getattr(self, key)) for key in entry.hyper}

    def describe(self) -> str:
        """One line naming everything that determines the generated code."""
        data = (
            f"{len(self.X)} samples"
            if self.X is not None
            else f"none (random {registry.loss(self.loss).task} set)"
        )
        return (
            f"{self.name}: layers {'-'.join(map(str, self.layers))}, "
            f"activations {', '.join(self.activations)}, loss {self.loss} ({self.reduction}), "
            f"lr {self.lr}, {self.epochs} epochs, seed {self.seed}, "
            + (f"L2 penalty {self.l2}, " if self.l2 else "")
            + ""
            + (
                f"alpha {self.alpha}, "
                if any(registry.activation(a).uses_alpha for a in self.activations)
                else ""
            )
            + (
                f"optimizer {self.optimizer}"
                + "".join(f", {k} {v!r}" for k, v in self.hyper.items())
                + ", "
                if self.optimizer != "sgd"
                else ""
            )
            + (f"dtype {self.dtype}, " if self.dtype != "float64" else "")
            + "".join(f"{f.kind} {f.name} = {f.text}, " for f in self.formulas)
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
    """Build and validate a spec; unknown or missing activations get the usual defaults.

    The layer sizes are bounded first, before any name, title or count is made from them.
    """
    layers = _layers(fields.pop("layers"))
    check_layers(layers)
    register_formulas(fields.get("formulas", ()))
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


def _short_text(where: str, text: str, example: str) -> str:
    """The stripped text of a typed number, refused when too long for any number we accept."""
    s = text.strip()
    if len(s) > MAX_NUMBER_CHARS:
        raise UserError(
            f"{where}: {shown(s)} has {len(s):,} characters, too long for a number "
            f"(at most {MAX_NUMBER_CHARS}); e.g. {example}"
        )
    return s


def parse_whole(where: str, text: str, example: str) -> int:
    """A whole number typed as text; too long a text is refused before Python converts it."""
    s = _short_text(where, text, example)
    try:
        return int(s)
    except ValueError:
        raise UserError(
            f"{where}: {shown(s)} is not a whole number; e.g. {example}"
        ) from None


def parse_real(where: str, text: str, example: str) -> float:
    """A finite real number typed as text (its range is checked later, with the TOML's)."""
    s = _short_text(where, text, example)
    try:
        value = float(s)
    except ValueError:
        raise UserError(
            f"{where}: {shown(s)} is not a number; e.g. {example}"
        ) from None
    if not math.isfinite(value):  # nan, inf, or beyond floats such as 1e400
        raise UserError(f"{where}: {shown(s)} is not a finite number; e.g. {example}")
    return value


def _layers(value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if len(parts) > MAX_DEPTH + 1:
            _too_deep(len(parts))
        sizes = []
        for i, p in enumerate(parts):
            if len(p) > MAX_NUMBER_CHARS and p.isdigit():  # before Python converts it
                raise UserError(
                    f"layers: size {i + 1} is a {len(p):,}-digit number, above the limit of "
                    f"{MAX_WIDTH:,} units per layer; give each layer at most {MAX_WIDTH:,}"
                )
            try:
                if len(p) > MAX_NUMBER_CHARS:
                    raise ValueError(p)
                sizes.append(int(p))
            except ValueError:
                raise UserError(
                    f"layers: {shown(value)} is not a comma-separated list of whole numbers "
                    f"(size {i + 1} is {shown(p)}); write e.g. --layers 2,2,1 (inputs, "
                    "hidden..., outputs)"
                ) from None
        value = sizes
    if not isinstance(value, Sequence) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in value
    ):
        raise UserError(
            f"layers: {shown(value)} is not a list of whole numbers; write e.g. layers = [2, 2, 1]"
        )
    return tuple(value)


def _too_deep(sizes: int) -> NoReturn:
    raise UserError(
        f"layers: {sizes:,} sizes make {sizes - 1:,} weight layers, above the limit of "
        f"{MAX_DEPTH}; give at most {MAX_DEPTH + 1} sizes (inputs, hidden..., outputs)"
    )


def _layer_name(i: int, count: int) -> str:
    return "input" if i == 0 else "output" if i == count - 1 else f"hidden layer {i}"


def check_layers(n: tuple[int, ...]) -> None:
    """Refuse too few or too many layers, a layer too narrow or too wide, too many parameters."""
    if len(n) < 3:
        raise UserError(
            f"layers: {shown(list(n))} has only {len(n)} size{'s' if len(n) != 1 else ''}; "
            "give at least 3 (inputs, one or more hidden layers, outputs), e.g. 2,2,1"
        )
    if len(n) > MAX_DEPTH + 1:
        _too_deep(len(n))
    for i, size in enumerate(n):
        if size < 1:
            raise UserError(
                f"layers: the {_layer_name(i, len(n))} has width {shown(size)}; every layer "
                "needs at least 1 unit"
            )
        if size > MAX_WIDTH:
            raise UserError(
                f"layers: the {_layer_name(i, len(n))} has {shown(size)} units, above the "
                f"limit of {MAX_WIDTH:,} per layer; give each layer at most {MAX_WIDTH:,}"
            )
    count = parameter_count(n)
    if count > MAX_PARAMETERS:
        raise UserError(
            f"layers: {'-'.join(map(str, n))} has {count:,} parameters, above the limit of "
            f"{MAX_PARAMETERS:,}; use narrower or fewer layers"
        )


def parameter_count(layers: Sequence[int]) -> int:
    """Weights and biases of a network with these sizes: sum of (fan_in + 1) * units."""
    return sum((a + 1) * b for a, b in zip(layers, layers[1:], strict=False))


def check_document_size(spec: NetworkSpec) -> None:
    """Refuse a document (latex, pdf, notebook) too large to work out at full size."""
    count = spec.param_count
    if count > MAX_DOCUMENT_PARAMETERS:
        raise UserError(
            f"layers: {'-'.join(map(str, spec.layers))} has {count:,} parameters, above the "
            f"limit of {MAX_DOCUMENT_PARAMETERS:,} for a document ({DOCUMENT_ARTEFACTS} work "
            f"their example out at full size); emit the trainer instead (limit "
            f"{MAX_PARAMETERS:,}) or use a narrower network"
        )


def validate(spec: NetworkSpec) -> None:
    """Refuse, with one line naming the problem and the fix, a spec that makes no sense."""
    n = spec.layers
    check_layers(n)
    if len(spec.activations) != len(n) - 1:
        raise UserError(
            f"activations: {len(spec.activations):,} given ({shown(spec.activations)}) but "
            f"layers {'-'.join(map(str, n))} has {len(n) - 1} non-input layers; give one each, "
            f"e.g. {','.join(['relu'] * (len(n) - 2) + ['identity'])}"
        )
    for a in spec.activations:
        if a not in registry.ACTIVATIONS:
            raise UserError(
                f"activations: unknown activation {shown(a)}; choose from "
                f"{', '.join(sorted(registry.ACTIVATIONS))}"
            )
    if spec.loss not in registry.LOSSES:
        raise UserError(
            f"loss: unknown loss {shown(spec.loss)}; choose from {', '.join(sorted(registry.LOSSES))}"
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
    if loss.output is not None and spec.activations[-1] != loss.output:
        raise UserError(
            f"loss {spec.loss} takes probabilities: set the output activation to "
            f"{loss.output}, e.g. --activations "
            f"{','.join([*spec.activations[:-1], loss.output])}"
        )
    out = spec.activations[-1]
    if registry.activation(out).vector and loss.output != out:
        pair = next(e.name for e in registry.LOSSES.values() if e.output == out)
        raise UserError(
            f"output activation {out} is paired with loss {pair} (its gradient is then "
            f"entrywise); use --loss {pair}, or identity with a loss on the raw outputs"
        )
    hidden = [a for a in spec.activations[:-1] if registry.activation(a).vector]
    if hidden:
        raise UserError(
            f"activations: {hidden[0]} works on a sample's outputs together, so it can only "
            f"be the output layer's; e.g. --activations "
            f"{','.join(['relu'] * (len(n) - 2) + [hidden[0]])}"
        )
    if "softmax" in (loss.link, loss.output) and n[-1] < 2:
        raise UserError(
            f"loss {spec.loss} needs at least 2 outputs (one per class); "
            "for one output use bce or bce_with_logits"
        )
    l2 = _finite(spec.l2)
    if l2 is None or l2 < 0:
        raise UserError(
            f"penalty l2: {shown(spec.l2)} is not a finite number >= 0; e.g. l2 = 0.01"
        )
    if _finite(spec.alpha) is None:
        raise UserError(
            f"alpha: {shown(spec.alpha)} is not a finite number; e.g. alpha = 0.01"
        )
    _check_optimizer(spec)
    if spec.dtype not in DTYPES:
        raise UserError(f"dtype: {shown(spec.dtype)} is not one of {', '.join(DTYPES)}")
    if spec.reduction not in registry.REDUCTIONS:
        raise UserError(
            f"reduction: {shown(spec.reduction)} is not one of {', '.join(registry.REDUCTIONS)}"
        )
    for key in ("name", "title"):
        text = getattr(spec, key)
        if not isinstance(text, str):
            raise UserError(f"{key}: {shown(text)} is not a string")
        if len(text) > MAX_TEXT_CHARS:
            raise UserError(
                f"{key}: {len(text):,} characters, above the limit of {MAX_TEXT_CHARS:,}; "
                "use a shorter one"
            )
    if not spec.title.isprintable():
        raise UserError(
            "title: use one line of printable text (no newlines or control characters)"
        )
    if not spec.name.isidentifier() or keyword.iskeyword(spec.name):
        raise UserError(
            f"name: {shown(spec.name)} is not a valid Python identifier; use letters, digits "
            "and underscores, not starting with a digit, e.g. net_2_2_1"
        )
    lr = _finite(spec.lr)
    if lr is None or lr <= 0:
        raise UserError(
            f"lr: {shown(spec.lr)} is not a positive number; give a finite one, e.g. lr = 0.05"
        )
    if not (_whole(spec.epochs) and 1 <= spec.epochs <= MAX_EPOCHS):
        raise UserError(
            f"epochs: {shown(spec.epochs)} is not a whole number from 1 to {MAX_EPOCHS:,}; "
            "e.g. 100"
        )
    if not (_whole(spec.seed) and 0 <= spec.seed <= MAX_SEED):
        raise UserError(
            f"seed: {shown(spec.seed)} is not a whole number from 0 to {MAX_SEED:,}; e.g. 0"
        )
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
                    f"params: unknown parameter {shown(key)}; this network has "
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


DTYPES = ("float64", "float32")


def _check_optimizer(spec: NetworkSpec) -> None:
    """The optimizer is a known one and each hyperparameter lies in its range."""
    if spec.optimizer not in optimizers.OPTIMIZERS:
        raise UserError(
            f"optimizer: unknown optimizer {shown(spec.optimizer)}; choose from "
            f"{', '.join(optimizers.OPTIMIZERS)}"
        )
    for key, h in optimizers.HYPERPARAMETERS.items():
        value = _finite(getattr(spec, key))
        if (
            value is None
            or value < h.low
            or (h.high is not None and value >= h.high)
            or (h.high is None and value <= h.low)
        ):
            where = (
                f"from {h.low:g} up to (not including) {h.high:g}"
                if h.high is not None
                else f"above {h.low:g}"
            )
            raise UserError(
                f"{key}: {shown(getattr(spec, key))} is not a number {where} ({h.meaning}); "
                f"e.g. {key} = {h.default!r}"
            )


def _whole(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v: object) -> float | None:
    """v as a float when it is a finite real number (not a bool, not an int beyond floats)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _check_targets(y: Matrix, kind: str, loss: str) -> None:
    for i, row in enumerate(y):
        if kind == "binary" and any(v not in (0.0, 1.0) for v in row):
            raise UserError(
                f"data.y[{i}]: {loss} needs binary targets (0 or 1), got {shown(list(row))}"
            )
        if kind == "one_hot" and (
            any(v not in (0.0, 1.0) for v in row) or sum(row) != 1.0
        ):
            raise UserError(
                f"data.y[{i}]: {loss} needs one-hot targets (a single 1 per row), got "
                f"{shown(list(row))}"
            )


def _shape_of(value: object) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        inner = {_shape_of(v) for v in value}
        return f"({len(value)}{', ' + inner.pop().strip('()') if len(inner) == 1 and inner != {'()'} else ''})"
    return "()"


def _number(where: str, v: object) -> float:
    f = _finite(v)
    if f is None:
        raise UserError(f"{where}: {shown(v)} is not a finite number")
    return f


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
            f"({what}), e.g. {shown([0.0] * min(size, 9))}"
        )
    for i, v in enumerate(value):
        _number(f"{where}[{i}]", v)
