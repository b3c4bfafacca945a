"""The student's array layouts: how each parameter and the targets are stored.

The derivation holds W as (units, inputs), biases as vectors (h,) and targets as (N, k); a
student may store W transposed (or a single unit's weights as a vector), biases as rows or
columns, and a single output's targets as (N,). The file's initial arrays pick the layout
where they can; otherwise every consistent one is tried.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ...errors import UserError
from ...spec import NetworkSpec, names, registry

# W as (units, inputs) like the derivation, or as (inputs, units)
WEIGHT_LAYOUTS = ("out_in", "in_out")
# a single unit's weights as a vector (inputs,): only when the file says so
VECTOR = "vec"
BIAS_LAYOUTS = ("flat", "row", "col")  # (h,), (1, h), (h, 1)
# y as (N, k), (N,) for a single output, or integer class labels (N,) for one-hot targets
TARGET_LAYOUTS = ("2d", "1d")
LABELS = "labels"
# one sample per row (X is (N, inputs)) or per column (X is (inputs, m), deeplearning.ai's)
SAMPLE_LAYOUTS = ("rows", "columns")


def is_weight(name: str) -> bool:
    """True for W1, W2, ...; False for the biases."""
    parsed = names.parse(name)
    return parsed is not None and parsed.kind == "W"


def layer_of(name: str) -> int:
    """The layer of a parameter: 2 for W2 and b2."""
    parsed = names.parse(name)
    if parsed is None:
        raise ValueError(f"{name!r} is not a parameter name")
    return parsed.layer


@dataclass(frozen=True)
class Layout:
    """How the student stores each parameter and the targets."""

    weights: tuple[tuple[str, str], ...]  # (W1, "out_in"), ...
    biases: tuple[tuple[str, str], ...]  # (b1, "col"), ...
    targets: str
    samples: str = "rows"
    # the code takes one training example at a time: X is one row, or one column
    one_example: bool = False

    @property
    def kinds(self) -> dict[str, str]:
        """Every parameter's layout: W1 -> "out_in", b1 -> "col", ..."""
        return dict(self.weights + self.biases)

    def of(self, name: str) -> str:
        """The layout of one parameter."""
        return self.kinds[name]

    def to_student(self, name: str, value: np.ndarray) -> np.ndarray:
        """A parameter (or its gradient) in our layout -> the student's layout."""
        kind = self.of(name)
        if kind == "in_out":
            return value.T.copy()
        if kind == VECTOR:
            return value.reshape(-1)
        if kind == "row":
            return value.reshape(1, -1)
        if kind == "col":
            return value.reshape(-1, 1)
        return value

    def labels_to_student(self, value: np.ndarray) -> np.ndarray:
        """The targets y as the student takes them: class labels when the file uses them."""
        if self.targets == LABELS:
            return value.argmax(axis=1)
        return self.targets_to_student(value)

    def targets_to_student(self, value: np.ndarray) -> np.ndarray:
        """y or Y, (N, k) -> the student's layout."""
        if self.targets == "1d":
            return value.reshape(-1)
        return self.samples_to_student(value)

    def samples_to_student(self, value: np.ndarray) -> np.ndarray:
        """A batch array (X, Z1, H1, ...), (N, units) -> the student's: (units, m) in columns."""
        return value.T.copy() if self.samples == "columns" else value

    def describe(self, spec: NetworkSpec) -> str:
        """`W1 (2, 2) and W2 (1, 2) as (units, inputs); b1 (2, 1) ... as columns (h, 1)`."""
        words = {
            "out_in": "as (units, inputs)",
            "in_out": "as (inputs, units)",
            VECTOR: "as a vector (inputs,)",
            "flat": "as vectors (h,)",
            "row": "as rows (1, h)",
            "col": "as columns (h, 1)",
        }
        parts = []
        for group in (self.weights, self.biases):
            by_kind: dict[str, list[str]] = {}
            for name, kind in group:
                shape = self.to_student(name, np.zeros(spec.param_shape(name))).shape
                by_kind.setdefault(kind, []).append(f"{name} {shape}")
            parts += [f"{' and '.join(v)} {words[k]}" for k, v in by_kind.items()]
        k = spec.layers[-1]
        if self.targets == LABELS and self.samples == "columns":
            parts.append(
                f"samples as columns: X ({spec.layers[0]}, m), Y class labels (m,) "
                f"from 0 to {k - 1}"
            )
        elif self.targets == LABELS:
            parts.append(
                f"X (N, {spec.layers[0]}), y class labels (N,) from 0 to {k - 1}"
            )
        elif self.one_example:
            x, y = ((spec.layers[0], 1), (k, 1))
            if self.samples == "rows":
                x, y = x[::-1], y[::-1]
            parts.append(f"one example at a time: x {x}, y {y}")
        elif self.samples == "columns":
            y = "(m,)" if self.targets == "1d" else f"({k}, m)"
            parts.append(f"samples as columns: X ({spec.layers[0]}, m), Y {y}")
        else:
            y = "(N,)" if self.targets == "1d" else f"(N, {k})"
            parts.append(f"X (N, {spec.layers[0]}), y {y}")
        return "; ".join(parts)


def _shape_in(layout: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if layout == "in_out":
        return shape[::-1]
    if layout == VECTOR:
        return (shape[1],) if shape[0] == 1 else ()
    if layout == "row":
        return (1, shape[0])
    if layout == "col":
        return (shape[0], 1)
    return shape


def _fits(
    layout: str, our_shape: tuple[int, ...], student_shape: tuple[int, ...]
) -> bool:
    return _shape_in(layout, our_shape) == tuple(student_shape)


def candidate_layouts(
    spec: NetworkSpec,
    initial: dict[str, tuple[int, ...]],
    samples: tuple[str, ...] = ("rows",),
    labels: bool = False,
    weights: tuple[str, ...] = WEIGHT_LAYOUTS,
    biases: tuple[str, ...] = BIAS_LAYOUTS,
) -> list[Layout]:
    """Layouts to try, best guess first: the file's initial arrays decide where they can
    (a parameter whose shape fits no layout is a UserError); otherwise every consistent one.
    `samples`: the sample layouts the file allows (its names and docstrings decide);
    `labels`: one-hot targets passed as integer class labels; `weights`, `biases`: the kinds
    the file's text allows."""
    depth = spec.depth
    for name in spec.param_names:
        if name in initial:
            options = (*WEIGHT_LAYOUTS, VECTOR) if is_weight(name) else BIAS_LAYOUTS
            if not any(
                _fits(o, spec.param_shape(name), initial[name]) for o in options
            ):
                want = spec.param_shape(name)
                ways = (
                    (f"{want} or {want[::-1]}" if want[0] != want[1] else str(want))
                    if is_weight(name)
                    else f"({want[0]},), (1, {want[0]}) or ({want[0]}, 1)"
                )
                raise UserError(
                    f"the file's {name} has shape {tuple(initial[name])}, which does not fit the "
                    f"network {'-'.join(map(str, spec.layers))} ({name} should be {ways}); pass "
                    "--layers (and --activations) matching the notebook"
                )
    targets = [LABELS] if labels else ["2d"]
    if not labels and registry.loss(spec.loss).targets == "one_hot":
        targets.append(
            LABELS
        )  # what the code accepts decides: one-hot rows, else labels
    if spec.layers[-1] == 1 and not labels:
        y_shape = initial.get("y")
        targets = ["1d"] if y_shape is not None and len(y_shape) == 1 else ["2d"]
        if y_shape is None:
            targets = list(TARGET_LAYOUTS)
    overrides_of: dict[Layout, int] = {}  # in the order first met: the preferred first
    for s_kind, w_kind, b_kind, t_kind in itertools.product(
        samples, weights, biases, targets
    ):
        overrides = 0
        weights, biases = [], []
        for k in range(1, depth + 1):
            for name, kind, options, out in (
                (names.weight(k), w_kind, (*WEIGHT_LAYOUTS, VECTOR), weights),
                (names.bias(k), b_kind, BIAS_LAYOUTS, biases),
            ):
                shape = spec.param_shape(name)
                if name in initial and not _fits(kind, shape, initial[name]):
                    kind = next(o for o in options if _fits(o, shape, initial[name]))
                    overrides += 1
                out.append((name, kind))
        layout = Layout(tuple(weights), tuple(biases), t_kind, s_kind)
        overrides_of[layout] = min(overrides, overrides_of.get(layout, overrides))
    fewest = min(overrides_of.values())
    return [layout for layout, o in overrides_of.items() if o == fewest]
