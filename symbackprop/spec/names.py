"""The naming scheme, in one place: the arrays of the vectorized program and the scalar symbols.

Arrays (one per layer l): weights `W1`, biases `b1`, pre-activations `Z1`, activations `H1`,
the outputs `Y` (the last activation), predicted probabilities `P` (a loss with a link), the
output error and its recursion `dZ1`, gradients `gW1`, `gb1`. Scalars (1-based indices):
`W1_2_3` (row 2, column 3 of W1), `b1_2`, `z1_2`, `h1_2`, `x_3`, `y_1`, `yhat_1`.
Everything that makes or reads such a name calls a function here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INPUTS = "X"
TARGETS = "y"
OUTPUTS = "Y"
PREDICTION = "P"
PENALTY = "l2"  # the L2 penalty's lambda: lambda/2 * the sum of every weight's squares

# the placeholders an entrywise rule is written in (derive.rules makes SymPy symbols of them)
RULE_Z = "z"  # a pre-activation
RULE_H = "h"  # the activation's value at z
RULE_YHAT = "yhat"  # a network output
RULE_T = "y"  # its target
RULE_W = "w"  # one weight entry (the L2 penalty's rules)


def weight(layer: int) -> str:
    """W1, W2, ...: (units, fan_in), row i holds unit i's weights."""
    return f"W{layer}"


def bias(layer: int) -> str:
    """b1, b2, ...: one number per unit."""
    return f"b{layer}"


def pre_activation(layer: int) -> str:
    """Z1, Z2, ...: the batch's pre-activations of a layer."""
    return f"Z{layer}"


def activation(layer: int, depth: int) -> str:
    """H1, H2, ... for hidden layers; Y for the output layer."""
    return OUTPUTS if layer == depth else f"H{layer}"


def delta(layer: int) -> str:
    """dZ1, dZ2, ...: d loss / d Z of a layer."""
    return f"dZ{layer}"


def grad(param: str) -> str:
    """gW1, gb1, ...: the gradient buffer of a parameter."""
    return f"g{param}"


def mask(layer: int) -> str:
    """M1, ...: the in-place trainer's boolean buffer for a step derivative."""
    return f"M{layer}"


def param_names(depth: int) -> list[str]:
    """W1, b1, W2, b2, ... in layer order: the order of every parameter list."""
    layers = range(1, depth + 1)
    return [name for k in layers for name in (weight(k), bias(k))]


def seed_order(depth: int) -> list[str]:
    """Every W, then every b: the order the seed notebook prints and returns gradients in."""
    layers = range(1, depth + 1)
    return [weight(k) for k in layers] + [bias(k) for k in layers]


def sample_input() -> str:
    """x: one sample's inputs, a column vector in the per-sample forms."""
    return "x"


def sample_z(layer: int) -> str:
    """z1, z2, ...: one sample's pre-activations of a layer."""
    return f"z{layer}"


def sample_h(layer: int, depth: int) -> str:
    """h1, ... for hidden layers; yhat for the output layer (one sample)."""
    return "yhat" if layer == depth else f"h{layer}"


def weight_entry(layer: int, i: int, j: int) -> str:
    """W1_2_3: row i, column j (1-based) of W1."""
    return f"W{layer}_{i}_{j}"


def bias_entry(layer: int, i: int) -> str:
    """b1_2: unit i's bias."""
    return f"b{layer}_{i}"


def z_entry(layer: int, i: int) -> str:
    """z1_2: unit i's pre-activation in one sample."""
    return f"z{layer}_{i}"


def h_entry(layer: int, i: int, depth: int) -> str:
    """h1_2 for a hidden unit; yhat_2 for an output."""
    return f"yhat_{i}" if layer == depth else f"h{layer}_{i}"


def input_entry(j: int) -> str:
    """x_3: one sample's input j."""
    return f"x_{j}"


def target_entry(k: int) -> str:
    """y_1: one sample's target k."""
    return f"y_{k}"


@dataclass(frozen=True)
class Name:
    """A parsed name: kind ('W', 'b', 'z', 'h', 'x', 'y', 'yhat', 'delta', 'Z', 'H', 'dZ',
    'gW', 'gb', ...), its layer (0 where none) and 1-based indices."""

    kind: str
    layer: int = 0
    indices: tuple[int, ...] = ()


_ENTRY = re.compile(r"^(W|b|z|h|delta)(\d+)_(\d+)(?:_(\d+))?$")
_VECTOR = re.compile(r"^(x|y|yhat)_(\d+)$")
_ARRAY = re.compile(r"^(W|b|Z|H|dZ|gW|gb|M|z|h|delta)(\d+)$")


def parse(name: str) -> Name | None:
    """Read any name this module makes back into its parts; None for anything else."""
    if m := _ENTRY.match(name):
        kind, layer, i, j = m.groups()
        if (kind == "W") != (j is not None):
            return None
        return Name(kind, int(layer), tuple(int(v) for v in (i, j) if v is not None))
    if m := _VECTOR.match(name):
        return Name(m.group(1), 0, (int(m.group(2)),))
    if m := _ARRAY.match(name):
        return Name(m.group(1), int(m.group(2)))
    if name in (INPUTS, TARGETS, OUTPUTS, PREDICTION):
        return Name(name)
    return None


# -- the course names of the matrix equations (check-formulas' matrix mode) -----------------
# deeplearning.ai's A1, dZ1, dW1, db1, dA1 and the textbook's delta1, beside the program's
# H1, dZ1, gW1, gb1; lower case (x, a1, z1, delta1, yhat) is one sample's column vector.
BATCH_SIZES = ("m", "N")
# CS231n's words for the output layer's arrays (and its one hidden layer's)
_CS231N = {
    "scores": "Z",
    "dscores": "dZ",
    "probs": "A",
    "hidden_layer": "A1",
    "H": "A1",
    "hidden": "A1",
    "dhidden": "dA1",
}


def course_activation(layer: int) -> str:
    """A1, A2, ...: deeplearning.ai's name of a layer's activations (H1 in the program)."""
    return f"A{layer}"


def course_grad(param: str) -> str:
    """dW1, db1: the course's name of a parameter's gradient (gW1 in the program)."""
    return f"d{param}"


def course_upstream(layer: int) -> str:
    """dA1: d loss / d A of a hidden layer."""
    return f"dA{layer}"


@dataclass(frozen=True)
class CourseName:
    """A course name read: kind (X, Y, Yhat, A, Z, W, b, dZ, dA, dW, db, m), its layer (0 where
    none; A0 is X) and whether it is one sample's column vector (x, a1, delta1)."""

    kind: str
    layer: int = 0
    per_sample: bool = False


_COURSE_GRAD = re.compile(
    r"^(?:d|dL/d|dJ/d|∂L/∂|∂J/∂|dL_d|grad_?)(W|b|Z|A|H|w|z|a|h)_?(\d{1,3})$"
)
_COURSE_ARRAY = re.compile(r"^(A|H|Z|W|b|a|h|z|w)_?(\d{1,3})$")
_COURSE_DELTA = re.compile(r"^(delta|Delta|δ|Δ)_?(\d{1,3})$")
_COURSE_FIXED = {
    "X": CourseName("X"),
    "x": CourseName("X", per_sample=True),
    "Y": CourseName("Y"),
    "y": CourseName("Y", per_sample=True),
    "Yhat": CourseName("Yhat"),
    "Y_hat": CourseName("Yhat"),
    "Ŷ": CourseName("Yhat"),
    "yhat": CourseName("Yhat", per_sample=True),
    "y_hat": CourseName("Yhat", per_sample=True),
    "ŷ": CourseName("Yhat", per_sample=True),
    **{m: CourseName("m") for m in BATCH_SIZES},
}


def parse_course(name: str, depth: int) -> CourseName | None:
    """Read a course name (dW2, dL/dW2, A1, H1, z1, delta2, δ2, Yhat, dscores, m) for a
    network of `depth` weight layers; None for anything else (or a layer it does not have)."""
    if name in _COURSE_FIXED:
        return _COURSE_FIXED[name]
    if name in _CS231N:
        alias = _CS231N[name]
        if alias[-1].isdigit():
            return parse_course(alias, depth) if depth == 2 else None
        return CourseName(alias, depth)
    out: CourseName | None = None
    if m := _COURSE_GRAD.match(name):
        base, layer = m.groups()
        kind = {"H": "A", "h": "A", "w": "W"}.get(base, base)
        lower = base.islower() and base != "b"
        out = CourseName("d" + kind.upper() if kind != "b" else "db", int(layer), lower)
    elif m := _COURSE_DELTA.match(name):
        out = CourseName("dZ", int(m.group(2)), m.group(1) in ("delta", "δ"))
    elif m := _COURSE_ARRAY.match(name):
        base, layer = m.groups()
        kind = {"H": "A", "h": "A", "w": "W"}.get(base, base)
        sample = base in ("a", "h", "z")
        out = CourseName(kind.upper() if kind != "b" else "b", int(layer), sample)
        if out.kind == "A" and out.layer == 0:
            return CourseName("X", 0, sample)
    if out is None or not 1 <= out.layer <= depth:
        return None
    return out
